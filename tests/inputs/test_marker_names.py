"""A model, family or task named like a pytest mark (xfail, skip, skipif, parametrize, usefixtures,
filterwarnings, or a mark the project registers, such as integration) never becomes that mark: a
model named `xfail` whose test fails still fails the run (issue 12: it exited 0)."""

from __future__ import annotations

import pytest

from bakeoff.inputs.registry import MARKER_PREFIX, PYTEST_MARKS, ModelEntry
from tests.fault_server import MODEL, TEST, FaultServer

# The stand-in server answers "Paris.": this prompt's check fails on every model.
PROMPTS = "prompts:\n  - {id: p, text: 'Capital of Germany?', repeats: 1, checks: [{contains: Berlin}]}\n"


def entry(name: str, family: str, task: str = "chat", url: str = "http://127.0.0.1:9") -> dict:
    source = {"type": "openai-endpoint", "base_url": f"{url}/v1", "model": MODEL}
    return {"name": name, "task": task, "min_ram_gb": 0, "notes": "", "family": family, "runtime": "endpoint", "source": source}


def test_selectors_named_like_pytest_marks_are_prefixed():
    model = ModelEntry(name="xfail", task="skipif", min_ram_gb=0, notes="", family="parametrize", runtime="endpoint", source={})
    assert model.markers == [f"{MARKER_PREFIX}parametrize", f"{MARKER_PREFIX}skipif", "endpoint", f"{MARKER_PREFIX}xfail"]
    assert not set(model.markers) & PYTEST_MARKS
    assert model.selectors({"endpoint"}) == ["parametrize", "skipif", f"{MARKER_PREFIX}endpoint", "xfail"]


@pytest.mark.parametrize(
    "names",
    [
        ("xfail", "xfail", "chat"),
        ("skip", "skipif", "usefixtures"),
        ("plain", "filterwarnings", "parametrize"),
        ("integration", "integration", "chat"),  # registered by the project's ini below
    ],
    ids=["xfail", "skip-skipif-usefixtures", "filterwarnings-parametrize", "registered-mark"],
)
def test_a_failing_model_named_like_a_mark_still_fails(eval_project, names):
    name, family, task = names
    with FaultServer(["ok"]) as server:
        pytester = eval_project([entry(name, family, task, server.url)], PROMPTS, test=TEST)
        pytester.makeini("[pytest]\nmarkers =\n    integration: needs real runtimes\n")
        result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "xfail" not in result.parseoutcomes() and "skipped" not in result.parseoutcomes()
    result.stdout.fnmatch_lines([f"*-m {MARKER_PREFIX}NAME instead*"])


def test_the_prefixed_marker_selects_the_model(eval_project):
    pytester = eval_project([entry("xfail", "fam"), entry("other", "fam")], PROMPTS)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-m", f"{MARKER_PREFIX}xfail", "--strict-markers", "--bakeoff-launches", "1")
    assert result.ret == pytest.ExitCode.OK
    assert [line for line in result.outlines if "::test_prompt[" in line] == ["test_evals.py::test_prompt[xfail-p]"]

"""The fuzz suite: every case of tests/fuzz/cases.py refused in one line naming the file, the entry
and the field, exit 2 (`bakeoff`) or pytest's usage error (the plugin), never a traceback; a sample
through a real `pytest` subprocess proves the plugin's path end to end.

`python -m tests.fuzz` prints the same cases as a table by category."""

from __future__ import annotations

import collections
import json

import pytest

from tests.fuzz.cases import BINARY, DEEP_YAML, all_cases
from tests.fuzz.project import DIRECTORY, MODELS, PROMPTS, Case, report_data, run

CASES = all_cases()


@pytest.fixture(autouse=True)
def scratch_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))  # `cache clean` cases never reach the real cache


def test_the_suite_is_large_and_covers_every_input(capsys):
    by_category = collections.Counter(case.category for case in CASES)
    with capsys.disabled():
        print(f"\nfuzz cases: {len(CASES)} ({', '.join(f'{c}: {n}' for c, n in by_category.items())})")
    assert len(CASES) >= 150
    assert set(by_category) == {"models.json", "prompts.yaml", "reports", "pyproject.toml", "bakeoff flags", "pytest plugin flags"}
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_refused_in_one_line(case: Case, tmp_path):
    outcome = run(case, tmp_path / "project")
    assert outcome.problem(case) is None, outcome.problem(case)


def test_promote_to_a_directory_leaves_no_temporary_file(tmp_path):
    case = Case("bakeoff flags", "promote-to-directory", {}, argv=["baseline", "promote", "reports/cand.json", "--to", "reports"])
    root = tmp_path / "project"
    outcome = run(case, root)
    assert outcome.problem(case) is None
    assert not [p.name for p in root.rglob("*.tmp")]


def test_reports_folder_that_cannot_be_made_fails_before_any_test(eval_project):
    pytester = eval_project(MODELS, PROMPTS)
    pytester.makefile(".txt", blocker="a file where a folder would go")
    result = pytester.runpytest_subprocess("--bakeoff-reports", "blocker.txt/reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and "--bakeoff-reports" in errors[0] and "blocker.txt" in errors[0], errors
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()


# A sample of the cases through a real `pytest` run of a user's project: the plugin's own path.
PLUGIN_SAMPLE = [
    ("models.json", BINARY, "models.json"),
    ("models.json", DIRECTORY, "models.json: is a directory"),
    ("models.json", json.dumps([{**MODELS[0], "min_ram_gb": float("nan")}]), "field 'min_ram_gb'"),
    ("prompts.yaml", DIRECTORY, "prompts.yaml: is a directory"),
    ("prompts.yaml", "prompts: " + DEEP_YAML, "prompts.yaml: nested too deeply"),
    ("prompts.yaml", PROMPTS.replace("  repeats: 2", "  repeat: 5"), "'repeat' was unexpected"),
    ("prompts.yaml", PROMPTS.replace("    max_tokens: 16", "    min_pass_rate: .nan"), "prompt 1 (chat): field 'min_pass_rate'"),
    # (`tool = "x"` stops pytest itself, reading its own settings, before any plugin: tested in-process.)
    ("pyproject.toml", '[project]\nname = "p"\n[tool.bakeoff.limits]\nstall_s = nan\n', "[tool.bakeoff.limits]: field 'stall_s'"),
]


@pytest.mark.parametrize("file, content, message", PLUGIN_SAMPLE, ids=[f"{f}:{m}" for f, _, m in PLUGIN_SAMPLE])
def test_plugin_refuses_in_one_line(eval_project, file, content, message):
    pytester = eval_project(MODELS, PROMPTS)
    path = pytester.path / file
    path.unlink(missing_ok=True)
    if content is DIRECTORY:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = pytester.runpytest_subprocess()
    errors = [line for line in result.errlines if line.strip()]
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.errlines
    assert len(errors) == 1 and errors[0].startswith("ERROR: ") and message in errors[0], errors
    assert "Traceback" not in result.stdout.str()


def test_plugin_refuses_a_bad_limit_flag(eval_project):
    result = eval_project(MODELS, PROMPTS).runpytest_subprocess("--bakeoff-limit", "stall_s=nan")
    errors = [line for line in result.errlines if line.strip()]
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert errors == ["ERROR: --bakeoff-limit: request limit stall_s must be a number above 0, not nan"], errors


def test_plugin_refuses_a_bad_baseline_before_running(eval_project, tmp_path):
    pytester = eval_project(MODELS, PROMPTS)
    data = report_data("bad")
    data["models"][0]["prompts"][0]["samples"][0]["ttft_s"] = float("nan")
    (pytester.path / "bad.json").write_text(json.dumps(data))
    result = pytester.runpytest_subprocess("--bakeoff-baseline", "bad.json")
    errors = [line for line in result.errlines if line.strip()]
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert len(errors) == 1 and "bad.json" in errors[0] and "ttft_s" in errors[0], errors

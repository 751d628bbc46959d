"""Prompt sources: prompts.yaml is one; a new source is one module holding a factory, named with
--bakeoff-prompt-source, whose prompts a run asks (their checks validated like prompts.yaml's)
and whose identity the run's report records."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import BUILT_IN_DEFAULTS
from bakeoff.inputs.prompts_yaml import PromptsYaml
from bakeoff.inputs.settings import load_settings
from bakeoff.inputs.sources import PromptSource, prompt_source
from bakeoff.metrics import METRICS, Metric
from bakeoff.report.store import load_report

from ..fake_openai import serve_answers
from ..test_faults import endpoint_model

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "src" / "bakeoff" / "inputs"

# Two questions as a dataset would hold them; CHECK is filled in by each test.
QUESTIONS = json.dumps([
    {"id": "france", "text": "Capital of France?", "checks": [{"contains": "Paris"}]},
    {"id": "italy", "text": "Capital of Italy?", "checks": [{"CHECK": "Rome"}], "repeats": 1},
])
# The whole of a new source: one module, its factory taking the --bakeoff-prompts location.
MEMORY_SOURCE = '''
"""Questions held in memory, as a dataset source would give them."""
import hashlib
import json

from bakeoff.inputs.prompts import SourceIdentity, build_prompts

QUESTIONS = QUESTIONS_TEXT


class Capitals:
    def __init__(self, location):
        self.location = location

    def identity(self):
        return SourceIdentity("memory", "capitals", hashlib.sha256(QUESTIONS.encode()).hexdigest())

    def defaults(self):
        return {"repeats": 2, "max_tokens": 16}

    def items(self):
        return build_prompts(json.loads(QUESTIONS), self.defaults(), where="capitals")
'''


def memory_source(check: str) -> str:
    return MEMORY_SOURCE.replace("QUESTIONS_TEXT", repr(QUESTIONS.replace("CHECK", check)))


TEST = "def test_prompt(model, prompt, evaluate):\n    assert evaluate(model, prompt).passed\n"


def capital(body: dict) -> str:
    return "Paris." if "France" in body["messages"][-1]["content"] else "Rome."


def test_a_new_prompt_source_is_one_module_and_the_report_records_its_identity(eval_project):
    with serve_answers(capital) as (url, requests):
        project = eval_project(models=[endpoint_model("candidate", url)], test=TEST)
        project.makepyfile(memory_source=memory_source("contains"))
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "--bakeoff-launches", "1",
                                              "--bakeoff-prompt-source", "memory_source:Capitals")
    assert result.ret == 0, result.stdout.str()[-3000:]
    # The source's questions were asked, not the project's prompts.yaml, with the source's defaults.
    assert {body["messages"][-1]["content"] for body in requests} == {"Capital of France?", "Capital of Italy?"}
    report = load_report(project.path / "reports" / "latest.json")
    (model,) = report.models
    assert {p.id: len(p.samples) for p in model.prompts} == {"france": 2, "italy": 1}
    digest = hashlib.sha256(QUESTIONS.replace("CHECK", "contains").encode()).hexdigest()
    assert report.prompt_source.model_dump() == {"kind": "memory", "name": "capitals", "sha256": digest}


def test_a_bad_check_from_any_source_stops_the_run_naming_source_prompt_and_field(eval_project):
    project = eval_project(models=[endpoint_model("candidate", "http://127.0.0.1:9")], test=TEST)
    project.makepyfile(memory_source=memory_source("sparkles"))
    result = project.runpytest_subprocess("--bakeoff-prompt-source", "memory_source:Capitals")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: capitals: prompt 1 (italy): field 'checks.0': unknown check 'sparkles'*"])


def test_prompts_yaml_is_a_source_identified_by_its_bytes():
    path = ROOT / "prompts.yaml"
    source = prompt_source(None, path)
    assert isinstance(source, PromptsYaml) and isinstance(source, PromptSource)
    identity = source.identity()
    assert (identity.kind, identity.name) == ("prompts-yaml", str(path))
    assert identity.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.id for p in source.items()][:1] and source.defaults().keys() >= BUILT_IN_DEFAULTS.keys()


def test_a_source_defaults_fill_what_a_prompt_leaves_out(tmp_path):
    path = tmp_path / "prompts.yaml"
    path.write_text("defaults: {repeats: 5, judge: big}\nprompts:\n  - {id: a, text: hi, max_tokens: 9, checks: [{contains: x}]}\n")
    source = PromptsYaml(path)
    assert source.defaults() == {**BUILT_IN_DEFAULTS, "repeats": 5, "judge": "big"}
    (prompt,) = source.items()
    assert (prompt.repeats, prompt.max_tokens, prompt.origin) == (5, 9, f"{path}: prompt 0 (a)")


def test_an_unreadable_prompts_file_has_no_digest(tmp_path):
    assert PromptsYaml(tmp_path / "missing.yaml").identity().sha256 is None


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        ("memory_source", "name it MODULE:FACTORY"),
        ("no_such_module_here:make", "cannot import no_such_module_here"),
        ("json:no_such_factory", "json has no function no_such_factory"),
        ("builtins:str", "made a str, which lacks identity(), defaults() or items()"),
    ],
)
def test_a_source_that_cannot_be_made_is_one_line(tmp_path, factory, expected):
    with pytest.raises(BakeoffError) as raised:
        prompt_source(factory, tmp_path / "prompts.yaml")
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_inputs_import_no_other_stage():
    """inputs is the first stage: the deciding stage imports it, never the other way round."""
    imported = set()
    for path in INPUTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "bakeoff":
                imported.update(f"bakeoff.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    stages = {name for name in imported if name.startswith("bakeoff")}
    # bakeoff.console (error excerpts), bakeoff.metrics (the table of metrics) and bakeoff.entry_points
    # (the runtimes installed) import no stage: settings name gates by the table, models.json runtimes
    # by the entry points.
    allowed = {"bakeoff.errors", "bakeoff.console", "bakeoff.metrics", "bakeoff.entry_points"}
    assert stages and all(name in allowed or name.startswith("bakeoff.inputs") for name in stages), stages


def test_a_gate_may_name_a_metric_as_soon_as_the_table_has_its_row(tmp_path, monkeypatch):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[[tool.bakeoff.gates]]\nmetric = "prefill_tokens_per_s"\nmax_decrease = 0.1\n')
    with pytest.raises(BakeoffError, match=r"entry 0: field 'metric': 'prefill_tokens_per_s' is not"):
        load_settings(pyproject)
    row = Metric("prefill_tokens_per_s", "prefill tokens/s", "prefill", "tok/s", "higher", "model", compared=True)
    monkeypatch.setitem(METRICS, row.key, row)
    assert [gate.metric for gate in load_settings(pyproject).gates] == ["prefill_tokens_per_s"]
    # measured per model, so a gate on it names no prompt
    pyproject.write_text('[[tool.bakeoff.gates]]\nmetric = "prefill_tokens_per_s"\nprompt = "p"\nmax_decrease = 0.1\n')
    with pytest.raises(BakeoffError, match="field 'prompt': prefill_tokens_per_s is measured per model"):
        load_settings(pyproject)


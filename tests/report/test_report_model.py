"""The typed report: a real version-1 report still loads, compares and renders; impossible values
are refused on read and on write; the JSON Schema and the settings' lists agree with the code."""

import json
import math
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from bakeoff.decide.compare import compare_reports
from bakeoff.errors import BakeoffError
from bakeoff.inputs.settings import DEFAULT_GATES, load_settings
from bakeoff.metrics import metric_keys
from bakeoff.report.model import SCHEMA, json_schema
from bakeoff.report.store import load_report, parse_report
from bakeoff.show.csv_report import render_csv
from bakeoff.show.html_report import render_html
from bakeoff.show.summary import run_view
from bakeoff.show.table import run_lines

from ..synthetic_reports import simple_report

ROOT = Path(__file__).resolve().parents[2]
V1 = Path(__file__).parents[1] / "data" / "report_v1.json"  # written by the version-1 plugin (an endpoint run)


def test_a_version_1_report_loads_compares_and_renders():
    report = load_report(V1)
    assert report.schema_ == SCHEMA and report.environment.runtimes == {"endpoint": "BaseHTTP/0.6 Python/3.11.7"}
    (model,) = report.models
    assert model.key == ("remote", "endpoint") and model.prompts[0].samples[0].response == "Paris."
    comparison = compare_reports(load_report(V1), report)
    assert not comparison.failed and comparison.like_for_like
    view = run_view(report)
    assert "remote" in render_html(view) and "Paris." in render_csv(view)
    assert any(line.startswith("remote") for line in run_lines(view))


def test_version_1_runtime_names_become_runtime_keys():
    data = simple_report("old").to_data()
    data["schema"] = "bakeoff.report/1"
    data["environment"]["runtimes"] = {"foundry-local": "2.2.1", "llama.cpp": "b1", "ollama": "0.5"}
    assert parse_report(data).environment.runtimes == {"foundry": "2.2.1", "llamacpp": "b1", "ollama": "0.5"}


def test_the_json_schema_file_is_the_models_schema():
    stored = json.loads((ROOT / "src/bakeoff/schemas/report.schema.json").read_text())
    assert stored == json_schema(), "run `python -m bakeoff.report.model` to rewrite it"


def set_path(data: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(
    "path, value",
    [
        ("models.0.prompts.0.samples.0.ttft_s", math.nan),
        ("models.0.prompts.0.samples.0.total_s", math.inf),
        ("models.0.prompts.0.samples.0.ttft_s", -0.1),
        ("models.0.prompts.0.samples.0.output_tokens", -1),
        ("models.0.peak_rss_bytes", -1),
        ("models.0.ready_seconds", -2.0),
        ("models.0.prompts.0.checks.0.pass_rate", 1.5),
        ("environment.ram_gb", math.nan),
    ],
)
def test_impossible_values_are_refused_on_read_and_on_write(path, value):
    data = simple_report("r").to_data()
    with pytest.raises(BakeoffError, match=f"field '{path}'"):
        parse_report(set_path(data, path, value))
    report = simple_report("r")
    *parents, last = path.split(".")
    target = report
    for part in parents:
        target = target[int(part)] if part.isdigit() else getattr(target, part)
    with pytest.raises(ValidationError):
        setattr(target, last, value)


def test_a_model_twice_on_one_runtime_is_refused():
    data = simple_report("r").to_data()
    data["models"].append(json.loads(json.dumps(data["models"][0])))
    with pytest.raises(BakeoffError, match="model qwen on runtime foundry is in the report twice"):
        parse_report(data)
    data["models"][1]["runtime"] = "llamacpp"  # the same name on another runtime is another model
    assert [m.key for m in parse_report(data).models] == [("qwen", "foundry"), ("qwen", "llamacpp")]


def test_a_rating_must_name_attempts_that_exist():
    data = simple_report("r").to_data()
    data["models"][0]["prompts"][0]["ratings"] = [
        {"samples": [99], "accuracy": 3, "clarity": 3, "completeness": 3, "rated_at": "x"}
    ]
    with pytest.raises(BakeoffError, match="names attempt 99"):
        parse_report(data)


def test_default_gates_are_defined_once():
    # the metrics a gate may name are the table's (settings check them against it, test_sources.py)
    assert {gate.metric for gate in DEFAULT_GATES} <= set(metric_keys(compared=True))
    # pyproject.toml and the README show the default gates; both must say what the code applies.
    assert load_settings(ROOT / "pyproject.toml").gates == DEFAULT_GATES
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("```toml\n[tool.bakeoff]") + len("```toml\n") :]
    block = block[: block.index("```")]
    documented = tomllib.loads(block)["tool"]["bakeoff"]["gates"]
    defaults = [g for g in documented if set(g) <= {"metric", "max_increase", "max_decrease", "max_new_failures"}]
    assert [{k: v for k, v in vars(g).items() if v is not None} for g in DEFAULT_GATES] == defaults

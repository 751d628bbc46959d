"""The pytest plugin's wiring, through pytester: bad input stops the run, markers select models."""

import json
from pathlib import Path

from bakeoff import load_prompts

ROOT = Path(__file__).resolve().parents[1]


def test_bad_registry_stops_the_run_with_one_line(eval_project):
    models = json.loads((ROOT / "models.json").read_text())
    index = next(i for i, m in enumerate(models) if m["name"] == "phi-4")
    models[index]["min_ram_gb"] = "lots"
    pytester = eval_project(models)
    result = pytester.runpytest_subprocess()
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: *models.json: entry {index} (phi-4): field 'min_ram_gb': 'lots' is not of type 'number'"])


def test_bad_prompts_stop_the_run_with_one_line(eval_project):
    pytester = eval_project()
    pytester.makefile(".yaml", prompts="prompts:\n  - {id: a, text: hi, checks: [{regex: '[oops'}]}\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: *prompts.yaml: prompt 0 (a): field 'checks.0': bad regex*"])


def test_models_and_prompts_are_parametrised_with_markers(eval_project):
    pytester = eval_project()
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-m", "phi", "--strict-markers", "--bakeoff-launches", "2")
    assert result.ret == 0
    collected = [line for line in result.outlines if "::test_prompt[" in line]
    chat_prompts = [p for p in load_prompts(ROOT / "prompts.yaml") if p.fits("chat")]  # phi models are chat models
    assert len(collected) == 2 * len(chat_prompts) * 2  # every prompt has more repeats than launches
    assert all("[phi-4" in line for line in collected)
    # Grouped by model and launch, launch by launch, so one server runs at a time: four starts.
    served_in_order = [(line.rstrip("]").rsplit("-", 1)[1], "phi-4-mini" if "[phi-4-mini-" in line else "phi-4") for line in collected]
    starts = [served for previous, served in zip([None, *served_in_order], served_in_order) if served != previous]
    assert starts == [("launch1", "phi-4-mini"), ("launch1", "phi-4"), ("launch2", "phi-4-mini"), ("launch2", "phi-4")] or starts == [
        ("launch1", "phi-4"), ("launch1", "phi-4-mini"), ("launch2", "phi-4"), ("launch2", "phi-4-mini")]


def test_skipped_models_land_in_the_report_with_their_reason(eval_project):
    models = [{"name": "huge", "task": "chat", "min_ram_gb": 100000, "notes": "", "family": "big"}]
    pytester = eval_project(models)
    result = pytester.runpytest_subprocess("-rs")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*bakeoff: model comparison*", "*  huge needs 100000 GB RAM*"])
    report = json.loads((pytester.path / "reports" / "latest.json").read_text())
    assert report["status"] == "complete"
    assert report["models"][0]["status"] == "skipped" and "needs 100000 GB" in report["models"][0]["reason"]


def test_a_broken_registry_does_not_stop_tests_that_use_no_model(eval_project):
    pytester = eval_project([{"name": "bad", "min_ram_gb": "lots"}], test="def test_arithmetic():\n    assert 6 * 7 == 42\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == 0
    result.assert_outcomes(passed=1)

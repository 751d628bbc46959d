"""`--bakeoff-baseline` wiring through pytester (no model runs here; see test_baseline_gate.py for that)."""

import json
from pathlib import Path

from bakeoff.report.store import environment

from .synthetic_reports import simple_report

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]

HUGE = [{"name": "qwen", "task": "chat", "min_ram_gb": 100000, "notes": "", "family": "qwen", "runtime": "foundry"}]


def setup_project(pytester):
    pytester.makefile(".json", models=json.dumps(HUGE))
    pytester.makefile(".yaml", prompts=(ROOT / "prompts.yaml").read_text())
    pytester.makepyfile(test_evals="def test_prompt(model, prompt, evaluate):\n    pass\n")


def test_an_invalid_baseline_stops_the_run_before_any_model_starts(pytester):
    setup_project(pytester)
    pytester.makefile(".json", baseline='{"schema": "bakeoff.report/1"}')
    result = pytester.runpytest_subprocess("--bakeoff-baseline", "baseline.json")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: baseline.json: field 'run_id': required"])


def test_bad_gate_settings_stop_the_run(pytester):
    setup_project(pytester)
    pytester.makefile(".json", baseline=simple_report("base").to_json())
    pytester.makefile(".toml", pyproject="[[tool.bakeoff.gates]]\nmetric = 'ttft_s'\nmax_increase = 'lots'\n")
    result = pytester.runpytest_subprocess("--bakeoff-baseline", "baseline.json")
    assert result.ret == 4
    expected = f"ERROR: {pytester.path / 'pyproject.toml'}: [[tool.bakeoff.gates]] entry 0: field 'max_increase': 'lots' is not of type 'number'"
    assert expected in result.stderr.lines


def test_a_model_not_run_this_time_is_noted_not_failed(pytester):
    setup_project(pytester)
    same_machine = environment().model_dump(exclude={"runtimes"})
    pytester.makefile(".json", baseline=simple_report("base", **same_machine).to_json())
    result = pytester.runpytest_subprocess("--bakeoff-baseline", "baseline.json")
    assert result.ret == 0
    assert "NOT LIKE FOR LIKE" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*bakeoff: against the baseline*",
            "baseline base  ->  candidate *",
            "  qwen (foundry): ran in the baseline, not in the candidate (qwen needs 100000",
            "Nothing was compared: no model ran in both reports.",
        ]
    )

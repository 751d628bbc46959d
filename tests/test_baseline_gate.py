"""`pytest evals --bakeoff-baseline` for real: the default model against a baseline made better.

A first run on the real default model (two prompts, three repeats over three server launches)
writes a report and saves pytest-benchmark's own results; its figures, made twice as fast, become
the baseline of a second run, which must fail the session with the regression summary, while
pytest-benchmark's `--benchmark-compare` still prints its own comparison beside ours. Launches
are the unit the timing verdicts count: with one launch a side they would be inconclusive.
The first run's report, as a series of nights with a step on the last one, is also the history
`bakeoff history --fail-on-last` must fail on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bakeoff.cli import main
from bakeoff.report.model import Report
from bakeoff.report.store import load_report, rewrite_report

from .conftest import REGISTRY, REPO
from .synthetic_reports import nightly_series

pytestmark = pytest.mark.integration

PROMPTS = ("hello-in-five-words", "arithmetic-7x6")
LAUNCHES = 3


def pytest_evals(tmp_path: Path, reports: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable, "-m", "pytest", "evals", "-p", "no:cacheprovider",
            "--bakeoff-models", str(tmp_path / "models.json"),
            "--bakeoff-prompts", str(tmp_path / "prompts.yaml"),
            "--bakeoff-reports", str(tmp_path / reports),
            "--benchmark-storage", f"file://{tmp_path / 'benchmarks'}",
            "--bakeoff-launches", str(LAUNCHES),
            *args,
        ],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )


def made_faster(report: Report, factor: float) -> Report:
    """The same report with every timing figure `factor` times better."""
    better = report.model_copy(deep=True)
    better.run_id = "better-baseline"
    for model in better.models:
        for prompt in model.prompts:
            for sample in prompt.samples:
                for key in ("ttft_s", "total_s", "itl_p50_s", "itl_p95_s"):
                    if getattr(sample, key) is not None:
                        setattr(sample, key, getattr(sample, key) / factor)
                if sample.decode_tokens_per_s is not None:
                    sample.decode_tokens_per_s *= factor
    return better


def test_a_run_slower_than_its_baseline_fails_the_session(default_model_pulled, tmp_path, capsys):
    # The default model on the runtime it was pulled for only, to keep this test lean.
    models = [m for m in json.loads(REGISTRY.read_text()) if m["name"] == default_model_pulled.name]
    for entry in models:
        entry.pop("runtime", None)
        entry["runtimes"] = [default_model_pulled.runtime]
    (tmp_path / "models.json").write_text(json.dumps(models))
    prompts = yaml.safe_load((REPO / "prompts.yaml").read_text())
    prompts["prompts"] = [p for p in prompts["prompts"] if p["id"] in PROMPTS]
    prompts["defaults"]["repeats"] = 3
    (tmp_path / "prompts.yaml").write_text(yaml.safe_dump(prompts))

    first = pytest_evals(tmp_path, "first", "--benchmark-autosave", "--benchmark-json", str(tmp_path / "bench.json"))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    saved = json.loads((tmp_path / "bench.json").read_text())
    # pytest-benchmark times each prompt once per launch: its rounds are the repeats in that launch.
    assert len(saved["benchmarks"]) == len(PROMPTS) * LAUNCHES
    # Every benchmark carries its TTFT: warm, or cold where its launch's only request was the first.
    assert all({"ttft_s_median", "cold_ttft_s_median"} & set(b["extra_info"]) for b in saved["benchmarks"])
    assert any("ttft_s_median" in b["extra_info"] for b in saved["benchmarks"])
    baseline = tmp_path / "baseline.json"
    rewrite_report(made_faster(load_report(tmp_path / "first" / "latest.json"), 2.0), baseline)

    second = pytest_evals(tmp_path, "second", "--bakeoff-baseline", str(baseline), "--benchmark-compare")
    out = second.stdout
    assert second.returncode == 1, out[-3000:] + second.stderr[-3000:]
    assert "passed" in out.splitlines()[-1] and "failed" not in out.splitlines()[-1]  # every test passed; the gate failed
    assert "bakeoff: against the baseline" in out
    assert "baseline better-baseline  ->  candidate " in out
    assert "gates failed:" in out
    assert f"{default_model_pulled.name} (foundry): time to first token: changed +" in out
    assert f"{default_model_pulled.name} (foundry): decode tokens/s: changed -" in out
    assert "Do not accept this run: it regressed against the baseline." in out
    assert "NOT LIKE FOR LIKE" not in out
    # pytest-benchmark's own comparison with the autosaved first run, beside ours.
    assert "0001_" in out and "(NOW)" in out
    # ... and the summary still ends with our recommendation, just above pytest's final line.
    assert out.index("benchmark '") < out.index("bakeoff: against the baseline")
    summary = out.rstrip().splitlines()[:-1]  # without pytest's final line
    last_paragraph = summary[len(summary) - summary[::-1].index(""):]  # wrapped to 80 columns
    assert last_paragraph[0].startswith("Do not accept this run")
    assert load_report(tmp_path / "second" / "latest.json").status == "complete"

    # The first run's real report as eight nights, flat or with time to first token 1.5x on the last.
    first_report = load_report(tmp_path / "first" / "latest.json")
    for name, step_at, exit_code in (("flat", None, 0), ("step", 7, 1)):
        nights = tmp_path / name
        nights.mkdir()
        for night in nightly_series(first_report, 8, seed=2, step_at=step_at, step=1.5):
            (nights / f"{night.run_id}.json").write_text(night.to_json())
        assert main(["history", str(nights), "--fail-on-last", "--config", str(tmp_path / "none.toml")]) == exit_code
        out = capsys.readouterr().out
        assert ("change point at run night-07 (the last run)" in out) == (step_at is not None), out

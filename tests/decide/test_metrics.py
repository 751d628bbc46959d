"""The metrics table is the one place a metric is defined: a new per-sample metric is one row, and
every compared metric, of every kind (per sample, per model, per prompt), gets a comparison row
that a gate judges."""

from __future__ import annotations

import dataclasses

import pytest

from bakeoff.decide.compare import WORSE, compare_reports
from bakeoff.decide.evaluation import verdict_for
from bakeoff.inputs.prompts import Prompt
from bakeoff.inputs.settings import Gate, Settings
from bakeoff.measure.client import Sample
from bakeoff.metrics import METRICS, Metric, metric_keys
from bakeoff.report.model import PromptResult
from bakeoff.report.store import parse_report

from ..synthetic_reports import model, prompt, report, samples, simple_report

PROMPT = Prompt(id="p", text="hi", system=None, checks=(), repeats=4, max_tokens=16, temperature=0.0, min_pass_rate=1.0)


def limit(metric: str, share: float = 0.1) -> Gate:
    """A gate allowing a `share` change the wrong way for `metric`."""
    return Gate(metric, max_increase=share) if METRICS[metric].lower_is_better else Gate(metric, max_decrease=share)


def overall(comparison, metric: str):
    return next(r for r in comparison.rows if r.metric == metric and r.prompt is None)


def test_the_table_names_each_kind_and_its_lists_follow_it(monkeypatch):
    assert metric_keys(per="sample", compared=True) == ("ttft_s", "total_s", "decode_tokens_per_s", "itl_p50_s")
    assert metric_keys(compared=True, test="paired") == ("human_score", "judge_score")
    assert metric_keys(compared=True, test="once") == ("peak_rss_bytes", "peak_gpu_memory_bytes", "joules_per_token")
    monkeypatch.setitem(METRICS, "load_seconds", dataclasses.replace(METRICS["load_seconds"], compared=True))
    assert metric_keys(compared=True, test="once") == ("load_seconds", "peak_rss_bytes", "peak_gpu_memory_bytes", "joules_per_token")


def test_a_cold_sample_counts_only_in_the_cold_metric():
    cold, warm = (Sample("x", ttft, 1.0, 3, None, "stream chunks", 5.0, 0.1, 0.1, "stop", cold=flag) for ttft, flag in ((2.0, True), (0.2, False)))
    assert (METRICS["cold_ttft_s"].of(cold), METRICS["ttft_s"].of(cold), METRICS["total_s"].of(cold)) == (2.0, None, None)
    assert (METRICS["cold_ttft_s"].of(warm), METRICS["ttft_s"].of(warm)) == (None, 0.2)


def measured(ttft: float, prefill_tokens: int, queue_s: float, cold: bool = False, launch: int = 0) -> Sample:
    """A sample as the client returns it, with a figure it measured for a metric without a field (`queue_s`)."""
    return Sample("an answer", ttft, ttft + 1, 20, prefill_tokens, "server usage", 20.0, 0.05, 0.06, "stop",
                  launch=launch, cold=cold, figures={"queue_s": queue_s})


def run_of(run_id: str, prefill_tokens: int, queue_s: float) -> dict:
    """A model's report record made from measured samples the way a run makes it (verdict_for), over 4 launches."""
    prompts = []
    for prompt_id, ttft in (("short", 0.5), ("long", 2.0)):
        taken = [measured(ttft * (1 + 0.01 * (i % 3)), prefill_tokens, queue_s * (1 + 0.01 * (i % 3)), cold=i < 4, launch=i % 4)
                 for i in range(12)]
        verdict = verdict_for(dataclasses.replace(PROMPT, id=prompt_id), taken)
        result = PromptResult(id=prompt_id, text="hi", repeats=12, passed=verdict.passed, stats=verdict.stats,
                              checks=verdict.check_records, samples=verdict.sample_records)
        prompts.append(result.model_dump(mode="json"))
    return report([model("qwen", prompts)], run_id).to_data()


def test_a_new_per_sample_metric_is_one_row(monkeypatch):
    """Two new rows, nothing else: one computed from a sample's fields (prefill speed), one the
    client measured (`Sample.figures`). Both reach the report's samples (and survive its JSON),
    the prompt statistics, and a comparison whose gate fails when they regress."""
    monkeypatch.setitem(METRICS, "prefill_tokens_per_s", Metric(
        "prefill_tokens_per_s", "prefill tokens/s", "prefill", "tok/s", "higher", "sample", compared=True,
        read=lambda s: s.prompt_tokens / s.ttft_s if s.prompt_tokens else None))
    monkeypatch.setitem(METRICS, "queue_s", Metric("queue_s", "time queued", "queue", "ms", "lower", "sample", 1000, compared=True))

    data = run_of("a", prefill_tokens=500, queue_s=0.1)
    stored = data["models"][0]["prompts"][0]
    assert [s["queue_s"] for s in stored["samples"][:2]] == [0.1, 0.101]  # the measured figure is stored with the sample
    assert stored["stats"]["queue_s"]["n"] == 8 and stored["stats"]["queue_s"]["median"] == pytest.approx(0.101)  # warm only
    assert stored["stats"]["prefill_tokens_per_s"]["median"] == pytest.approx(500 / 0.505)
    baseline = parse_report(data, where="a")
    assert METRICS["queue_s"].median(baseline.models[0].prompts[0].samples) == pytest.approx(0.101)  # read back from the record

    slower = parse_report(run_of("b", prefill_tokens=500, queue_s=0.2), where="b")
    gates = Settings(gates=(limit("queue_s"), limit("prefill_tokens_per_s")))
    comparison = compare_reports(baseline, slower, gates)
    queue, prefill = overall(comparison, "queue_s"), overall(comparison, "prefill_tokens_per_s")
    assert queue.verdict == WORSE and queue.change == pytest.approx(1.0) and queue.gate.passed is False
    assert prefill.gate.passed is True and [r.metric for r in comparison.failed_gates()] == ["queue_s"]
    assert overall(comparison, "queue_s").launches == (4, 4)  # compared like every timing figure, launch by launch


@pytest.mark.parametrize("metric", metric_keys(per="sample", compared=True))
def test_a_gate_on_a_per_sample_metric_fails_when_it_regresses(metric):
    slower = simple_report("b", ttft=0.65, decode=20.0, seed=2, launches=4)
    comparison = compare_reports(simple_report("a", seed=1, launches=4), slower, Settings(gates=(limit(metric),)))
    assert overall(comparison, metric).verdict == WORSE and overall(comparison, metric).gate.passed is False
    assert comparison.failed


@pytest.mark.parametrize("metric", [key for key in metric_keys(per="model") if METRICS[key].better])
def test_a_gate_on_any_compared_model_metric_is_judged(monkeypatch, metric):
    """Each per-model metric with a better direction, once compared, gets its row: a gate on it is never
    accepted and left unjudged."""
    monkeypatch.setitem(METRICS, metric, dataclasses.replace(METRICS[metric], compared=True))
    figures = {key: 800 * 2**20 if key.endswith("_bytes") else 5.0 for key in metric_keys(per="model")}
    worse = {key: value * 1.3 if isinstance(value, float) else int(value * 1.3) for key, value in figures.items()}
    runs = [report([model("qwen", [prompt("p", samples(0.5, 30.0, [True]))], **values)], run_id)
            for run_id, values in (("a", figures), ("b", worse))]
    comparison = compare_reports(*runs, Settings(gates=(limit(metric),)))
    assert overall(comparison, metric).change == pytest.approx(0.3, abs=1e-6)
    assert overall(comparison, metric).gate.passed is False and comparison.failed


def judged_report(run_id: str, scores: list[int]) -> object:
    prompts = []
    for index, score in enumerate(scores):
        taken = samples(0.5, 30.0, [True], n=3, seed=index)
        for sample in taken:
            sample["judge"] = {"judge": "j", "scores": {"accuracy": score, "clarity": score}, "seconds": 1.0}
        prompts.append(prompt(f"p{index}", taken))
    return report([model("qwen", prompts)], run_id)


def test_a_gate_on_a_per_prompt_metric_fails_when_it_regresses():
    """Judge scores (as human scores and pass rates, tested in test_compare) are paired by prompt and gated."""
    comparison = compare_reports(judged_report("a", [4] * 8), judged_report("b", [3] * 8), Settings(gates=(limit("judge_score"),)))
    judged = overall(comparison, "judge_score")
    assert judged.change == -0.25 and judged.verdict == WORSE and judged.gate.passed is False
    assert not compare_reports(judged_report("a", [4] * 8), judged_report("b", [4] * 8), Settings(gates=(limit("judge_score"),))).failed

"""Comparing two reports: verdicts, gates, warnings and the recommendation, on synthetic reports."""

import json

from bakeoff.decide.compare import (
    BETTER,
    SAME,
    WORSE,
    compare_reports,
    compare_switch,
    recommendation,
)
from bakeoff.inputs.settings import Gate, Settings

from ..synthetic_reports import model, prompt, report, samples, simple_report


def row(comparison, metric, prompt_id=None):
    return next(r for r in comparison.rows if r.metric == metric and r.prompt == prompt_id)


def test_same_distribution_is_no_detectable_change_and_passes_every_gate():
    comparison = compare_reports(simple_report("a", seed=1), simple_report("b", seed=2))
    assert not comparison.failed
    assert {r.verdict for r in comparison.rows} == {SAME}
    assert comparison.like_for_like and not comparison.warnings
    assert "holds up" in recommendation(comparison)


def test_a_slower_candidate_is_worse_and_fails_the_timing_gates():
    comparison = compare_reports(simple_report("a", seed=1), simple_report("b", ttft=0.65, decode=20.0, seed=2))
    ttft, decode = row(comparison, "ttft_s"), row(comparison, "decode_tokens_per_s")
    assert ttft.verdict == WORSE and abs(ttft.change - 0.30) < 0.05 and ttft.low > 0.15
    assert ttft.gate.passed is False and "limit +15%" in ttft.gate.reason
    assert decode.verdict == WORSE and decode.gate.passed is False
    assert row(comparison, "ttft_s", "short").verdict == WORSE  # per prompt too
    assert comparison.failed
    assert {r.metric for r in comparison.failed_gates()} == {"ttft_s", "decode_tokens_per_s"}
    assert recommendation(comparison).startswith("Do not accept this run")


def test_a_faster_candidate_is_better_and_passes():
    comparison = compare_reports(simple_report("a", seed=1), simple_report("b", ttft=0.4, decode=36.0, seed=2))
    assert row(comparison, "ttft_s").verdict == BETTER
    assert row(comparison, "decode_tokens_per_s").verdict == BETTER
    assert not comparison.failed


def test_a_detectable_change_within_the_gate_is_worse_but_passes():
    comparison = compare_reports(simple_report("a", seed=1, n=30), simple_report("b", ttft=0.55, seed=2, n=30))
    ttft = row(comparison, "ttft_s")
    assert ttft.verdict == WORSE and ttft.gate.passed
    assert not comparison.failed
    assert "within their limits" in recommendation(comparison)


def test_noise_below_the_minimum_effect_is_no_detectable_change():
    comparison = compare_reports(simple_report("a", seed=1, n=60), simple_report("b", ttft=0.51, seed=2, n=60))
    assert row(comparison, "ttft_s").verdict == SAME


def test_a_check_that_starts_failing_fails_the_gate_and_names_the_check():
    comparison = compare_reports(simple_report("a"), simple_report("b", checks=(True, False)))
    overall, short = row(comparison, "check_pass_rate"), row(comparison, "check_pass_rate", "short")
    assert overall.verdict == WORSE and overall.change < 0 and overall.change_kind == "points"
    assert overall.new_failures == ["short: check 1"]
    assert overall.gate.passed is False and "short: check 1" in overall.gate.reason
    assert short.verdict == WORSE
    assert comparison.failed


def test_a_newly_passing_check_is_better():
    comparison = compare_reports(simple_report("a", checks=(True, False)), simple_report("b"))
    assert row(comparison, "check_pass_rate").verdict == BETTER
    assert not comparison.failed


def test_peak_rss_is_compared_as_one_figure():
    base = simple_report("a", peak_rss=800 * 1024**2)
    comparison = compare_reports(base, simple_report("b", peak_rss=960 * 1024**2))
    rss = row(comparison, "peak_rss_bytes")
    assert abs(rss.change - 0.20) < 1e-9 and rss.verdict == WORSE and rss.gate.passed is False
    assert not compare_reports(base, simple_report("b", peak_rss=840 * 1024**2)).failed  # +5%: within +10%


def test_gates_per_model_and_prompt_override_the_general_one():
    slower = simple_report("b", ttft=0.65, seed=2)
    settings = Settings(gates=(Gate("ttft_s", max_increase=0.15), Gate("ttft_s", model="qwen", max_increase=0.5)))
    assert not compare_reports(simple_report("a", seed=1), slower, settings).failed
    strict_prompt = Settings(gates=(*settings.gates, Gate("ttft_s", prompt="short", max_increase=0.1)))
    failed = compare_reports(simple_report("a", seed=1), slower, strict_prompt).failed_gates()
    assert [(r.metric, r.prompt) for r in failed] == [("ttft_s", "short")]


def test_absolute_budget():
    settings = Settings(gates=(Gate("ttft_s", max=0.3),))
    failed = compare_reports(simple_report("a"), simple_report("b"), settings).failed_gates()
    assert len(failed) == 1 and "above the budget 0.3" in failed[0].gate.reason


def test_models_are_keyed_by_name_and_runtime():
    base = report([model("qwen", [prompt("p", samples(0.5, 30, [True]))], runtime="foundry")], "a")
    cand = report([model("qwen", [prompt("p", samples(0.9, 30, [True]))], runtime="llamacpp")], "b")
    comparison = compare_reports(base, cand)
    assert comparison.rows == []
    assert any("qwen (foundry)" in n and "not in the candidate" in n for n in comparison.notes)
    assert "Nothing was compared" in recommendation(comparison)


def test_a_model_that_fails_in_the_candidate_fails_the_comparison():
    cand = simple_report("b")
    cand.models[0].update(status="failed", reason="server exited")
    comparison = compare_reports(simple_report("a"), cand)
    assert comparison.failed and "server exited" in comparison.model_failures[0]


def test_different_hardware_and_runtime_are_said_loudly():
    base = simple_report("a")
    cand = simple_report("b", cpu="Intel Xeon", runtimes={"foundry": "2.3.0"})
    comparison = compare_reports(base, cand)
    assert not comparison.like_for_like
    assert "different CPU: AMD EPYC -> Intel Xeon" in comparison.warnings
    assert "different foundry runtime version: 2.2.1 -> 2.3.0" in comparison.warnings
    assert recommendation(comparison).startswith("These reports were not taken on the same machine")


def test_to_dict_is_plain_json():
    data = compare_reports(simple_report("a"), simple_report("b", checks=(True, False))).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["failed"] is True and data["recommendation"].startswith("Do not accept")
    first = data["rows"][0]
    assert {"model", "runtime", "prompt", "metric", "baseline", "candidate", "change", "verdict", "gate"} <= first.keys()


def test_switch_to_a_slower_bigger_model_lists_the_reasons():
    small = model("small", [prompt("p", samples(0.3, 40, [True, True]))], peak_rss=1 * 1024**3)
    big = model("big", [prompt("p", samples(0.9, 12, [True, False], seed=5))], peak_rss=6 * 1024**3)
    switch = compare_switch([report([small, big], "r")], "small", "big", min_ram_gb=32)
    assert not switch.allowed
    text = " | ".join(switch.reasons)
    assert "time to first token" in text and "decode tokens/s" in text and "check 1" in text
    assert "needs 32 GB RAM" in text and "peak RSS" in text


def test_switch_allowed_with_budgets_when_the_candidate_keeps_the_checks():
    small = model("small", [prompt("p", samples(0.3, 40, [True]))], peak_rss=1 * 1024**3)
    big = model("big", [prompt("p", samples(0.6, 25, [True], seed=5))], peak_rss=3 * 1024**3)
    budgets = Settings(switch=(Gate("ttft_s", max=1.0), Gate("peak_rss_bytes", max=4 * 1024**3), Gate("check_pass_rate", max_new_failures=0)))
    switch = compare_switch([report([small, big], "r")], "small", "big", budgets, min_ram_gb=8)
    assert switch.allowed, switch.reasons
    assert any("needs 8 GB RAM" in c for c in switch.checked)
    assert switch.to_dict()["recommendation"].startswith("Yes, switch from small (foundry) to big (foundry)")


def rated_report(run_id: str, scores: list[int]):
    prompts = []
    for index, score in enumerate(scores):
        rated = prompt(f"p{index}", samples(0.5, 30, [True], n=3, seed=index))
        rated["ratings"] = [
            {"samples": [0, 1, 2], "accuracy": score, "clarity": score, "completeness": score, "rater": None, "rated_at": "x"}
        ]
        prompts.append(rated)
    return report([model("qwen", prompts)], run_id)


def test_human_scores_paired_by_prompt():
    gates = Settings(gates=(Gate("human_score", max_decrease=0.1),))
    worse = compare_reports(rated_report("a", [4] * 8), rated_report("b", [3] * 8), gates)
    overall = row(worse, "human_score")
    assert overall.baseline == 4 and overall.candidate == 3 and overall.change == -0.25
    assert overall.detectable and overall.verdict == WORSE
    assert overall.gate.passed is False and "limit -10%" in overall.gate.reason
    per_prompt = row(worse, "human_score", "p0")
    assert per_prompt.note == "one rated prompt: not tested" and per_prompt.verdict == SAME

    same = compare_reports(rated_report("a", [4, 3, 5, 4, 4, 3, 5, 4]), rated_report("b", [4, 3, 5, 4, 4, 3, 5, 4]), gates)
    assert row(same, "human_score").verdict == SAME and not same.failed
    # One prompt scoring lower among eight is not a detectable change.
    one_lower = compare_reports(rated_report("a", [4] * 8), rated_report("b", [4] * 7 + [2]), gates)
    assert row(one_lower, "human_score").verdict == SAME and not one_lower.failed


def test_no_human_score_rows_without_ratings_on_both_sides():
    unrated = rated_report("b", [4] * 3)
    for rated in unrated.models[0].prompts:
        rated.ratings = []
    comparison = compare_reports(rated_report("a", [4] * 3), unrated)
    assert row(comparison, "ttft_s", "p0")  # the prompts were compared, just without scores
    assert not [r for r in comparison.rows if r.metric == "human_score"]

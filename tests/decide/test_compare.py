"""Comparing two reports: verdicts, gates, warnings and the comparison_advice, on synthetic reports."""

import json

import pytest

from bakeoff.decide.compare import (
    BETTER,
    INCONCLUSIVE,
    SAME,
    WORSE,
    compare_reports,
    compare_switch,
    comparison_advice,
)
from bakeoff.decide.stats import launches_to_settle_gate
from bakeoff.inputs.settings import Gate, Settings
from bakeoff.metrics import METRICS

from ..synthetic_reports import model, prompt, report, samples, simple_report


def row(comparison, metric, prompt_id=None):
    return next(r for r in comparison.rows if r.metric == metric and r.prompt == prompt_id)


TIMING = ("ttft_s", "total_s", "decode_tokens_per_s", "itl_p50_s")


def test_two_single_launch_reports_of_identical_runs_give_no_timing_verdict():
    """One launch a side: the launch-to-launch noise is unknown, so no better or worse, ever."""
    for ttft, decode in ((0.5, 30.0), (0.6, 25.0)):  # even a 20% shift cannot be told from launch noise
        comparison = compare_reports(simple_report("a", seed=1, n=30), simple_report("b", ttft=ttft, decode=decode, seed=2, n=30))
        timing = [r for r in comparison.rows if r.metric in TIMING]
        assert timing and {r.verdict for r in timing} == {INCONCLUSIVE}
        assert all(r.low is None and r.launches == (1, 1) for r in timing)
        assert row(comparison, "ttft_s").gate.inconclusive and not comparison.failed  # inconclusive = "pass"
        assert "could not settle" in comparison_advice(comparison) and "launches" in comparison_advice(comparison)
    strict = compare_reports(simple_report("a", seed=1), simple_report("b", seed=2), Settings(inconclusive="fail"))
    assert strict.failed and row(strict, "ttft_s").gate_failed and "fails: inconclusive" in row(strict, "ttft_s").gate.reason


def test_same_distribution_over_launches_is_no_change_and_passes_every_gate():
    comparison = compare_reports(simple_report("a", seed=1, launches=4), simple_report("b", seed=2, launches=4))
    assert not comparison.failed
    assert {r.verdict for r in comparison.rows if r.prompt is None} == {SAME}
    assert {r.verdict for r in comparison.rows if r.prompt} <= {SAME, INCONCLUSIVE}  # 10 samples: some intervals reach 5%
    assert row(comparison, "ttft_s").launches == (4, 4) and row(comparison, "ttft_s").high < 0.05
    assert comparison.like_for_like and not comparison.warnings
    assert "holds up" in comparison_advice(comparison)


def test_a_slower_candidate_is_worse_and_fails_the_timing_gates():
    comparison = compare_reports(simple_report("a", seed=1, launches=4), simple_report("b", ttft=0.65, decode=20.0, seed=2, launches=4))
    ttft, decode = row(comparison, "ttft_s"), row(comparison, "decode_tokens_per_s")
    assert ttft.verdict == WORSE and abs(ttft.change - 0.30) < 0.05 and ttft.low > 0.15
    assert ttft.gate.passed is False and "limit +10%" in ttft.gate.reason
    assert decode.verdict == WORSE and decode.gate.passed is False
    short = row(comparison, "ttft_s", "short")
    assert short.verdict == WORSE and short.q_value < 0.05  # per prompt too, after false discovery control
    assert comparison.failed
    assert {r.metric for r in comparison.failed_gates()} == {"ttft_s", "decode_tokens_per_s"}
    assert comparison_advice(comparison).startswith("Do not accept this run")


def test_a_faster_candidate_is_better_and_passes():
    comparison = compare_reports(simple_report("a", seed=1, launches=4), simple_report("b", ttft=0.4, decode=36.0, seed=2, launches=4))
    assert row(comparison, "ttft_s").verdict == BETTER
    assert row(comparison, "decode_tokens_per_s").verdict == BETTER
    assert not comparison.failed


def test_a_detected_change_within_the_gate_is_worse_but_passes():
    comparison = compare_reports(simple_report("a", seed=1, n=30, launches=4), simple_report("b", ttft=0.535, seed=2, n=30, launches=4))
    ttft = row(comparison, "ttft_s")
    assert ttft.verdict == WORSE and ttft.gate.passed and not ttft.gate.inconclusive  # the whole interval is within +10%
    assert not comparison.failed
    assert "within their limits" in comparison_advice(comparison)


def test_noise_below_the_minimum_effect_is_no_change():
    comparison = compare_reports(simple_report("a", seed=1, n=60, launches=4), simple_report("b", ttft=0.51, seed=2, n=60, launches=4))
    ttft = row(comparison, "ttft_s")
    assert ttft.verdict == SAME and -0.05 < ttft.low and ttft.high < 0.05  # equivalence: the interval within +-5%


def test_noisy_launches_make_a_real_change_inconclusive_with_launches_to_settle_it():
    noisy = {"launches": 3, "launch_spread": 0.15}
    comparison = compare_reports(simple_report("a", seed=1, **noisy), simple_report("b", ttft=0.6, seed=2, **noisy))
    ttft = row(comparison, "ttft_s")
    assert ttft.verdict == INCONCLUSIVE and ttft.launches_to_settle > 3
    assert ttft.between_launch_sd > 3 * ttft.within_launch_sd  # the noise is between launches
    # The gate's own count is sized against its limit (+10%), not against the minimum effect.
    for_gate = launches_to_settle_gate(1 + ttft.change, ttft.launch_sd, 0.10, increase=True)
    settle = f"about {for_gate} launches a side" if for_gate else "more than 50 launches a side"
    assert ttft.gate.inconclusive and f"{settle} would" in ttft.gate.reason and "against the limit" in ttft.gate.reason


def test_per_prompt_changes_are_controlled_for_false_discoveries():
    comparison = compare_reports(simple_report("a", seed=1, launches=4), simple_report("b", ttft=0.65, seed=2, launches=4))
    tested = [r for r in comparison.rows if r.prompt and r.p_value is not None]
    assert len(tested) > 4 and all(r.q_value >= r.p_value for r in tested)
    assert all(r.detectable == (r.q_value < 0.05) for r in tested)


def test_a_check_that_starts_failing_fails_the_gate_and_names_the_check():
    comparison = compare_reports(simple_report("a"), simple_report("b", checks=(True, False)))
    overall, short = row(comparison, "check_pass_rate"), row(comparison, "check_pass_rate", "short")
    # Paired by prompt, one prompt of two flipping is no evidence by itself (exact McNemar p = 1) ...
    assert overall.verdict == INCONCLUSIVE and overall.change < 0 and overall.change_kind == "points"
    assert overall.p_value == 1.0 and "1 newly failing, 0 newly passing" in overall.note
    # ... but the check passed all 10 attempts before and fails all 10 now: a change, not a flaky check.
    assert overall.new_failures == overall.consistent_failures == ["short: check 1"]
    assert overall.gate.passed is False and "short: check 1" in overall.gate.reason
    assert short.verdict == WORSE
    assert comparison.failed


def test_a_flaky_new_failure_is_inconclusive():
    cand = simple_report("b")
    flaky = cand.models[0].prompts[0]
    flaky.samples[3].checks[1].passed = False  # one attempt of ten
    flaky.checks[1].update(pass_rate=0.9, passed=False)
    flaky.passed = False
    comparison = compare_reports(simple_report("a"), cand)
    gate = row(comparison, "check_pass_rate").gate
    assert gate.inconclusive and gate.passed and "in some attempts only" in gate.reason
    assert compare_reports(simple_report("a"), cand, Settings(inconclusive="fail")).failed


def test_a_newly_passing_check_is_better_on_its_prompt():
    comparison = compare_reports(simple_report("a", checks=(True, False)), simple_report("b"))
    assert row(comparison, "check_pass_rate", "short").verdict == BETTER
    assert "newly passing: short: check 1" in row(comparison, "check_pass_rate").note
    assert not comparison.failed


def test_pass_rates_are_paired_by_prompt():
    prompts = [f"p{i}" for i in range(8)]
    base = report([model("qwen", [prompt(p, samples(0.5, 30, [True], n=3, seed=i)) for i, p in enumerate(prompts)])], "a")
    cand = report([model("qwen", [prompt(p, samples(0.5, 30, [i >= 6], n=3, seed=i)) for i, p in enumerate(prompts)])], "b")
    overall = row(compare_reports(base, cand), "check_pass_rate")
    assert overall.p_value == 2 / 2**6 and overall.verdict == WORSE  # six prompts flipped, all one way


def test_peak_rss_is_compared_as_one_figure():
    base = simple_report("a", peak_rss=800 * 1024**2)
    comparison = compare_reports(base, simple_report("b", peak_rss=960 * 1024**2))
    rss = row(comparison, "peak_rss_bytes")
    assert abs(rss.change - 0.20) < 1e-9 and rss.verdict == WORSE and rss.gate.passed is False
    assert not compare_reports(base, simple_report("b", peak_rss=840 * 1024**2)).failed  # +5%: within +10%


def test_gates_per_model_and_prompt_override_the_general_one():
    slower = simple_report("b", ttft=0.65, seed=2, launches=4)
    settings = Settings(gates=(Gate("ttft_s", max_increase=0.15), Gate("ttft_s", model="qwen", max_increase=0.5)))
    assert not compare_reports(simple_report("a", seed=1, launches=4), slower, settings).failed
    strict_prompt = Settings(gates=(*settings.gates, Gate("ttft_s", prompt="short", max_increase=0.1)))
    failed = compare_reports(simple_report("a", seed=1, launches=4), slower, strict_prompt).failed_gates()
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
    assert "Nothing was compared" in comparison_advice(comparison)


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
    assert comparison_advice(comparison).startswith("These reports were not taken on the same machine")


def test_to_dict_is_plain_json():
    data = compare_reports(simple_report("a"), simple_report("b", checks=(True, False))).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["failed"] is True and data["recommendation"].startswith("Do not accept")
    first = data["rows"][0]
    assert {"model", "runtime", "prompt", "metric", "baseline", "candidate", "change", "verdict", "gate"} <= first.keys()


def test_switch_to_a_slower_bigger_model_lists_the_reasons():
    small = model("small", [prompt("p", samples(0.3, 40, [True, True], launches=3))], peak_rss=1 * 1024**3)
    big = model("big", [prompt("p", samples(0.9, 12, [True, False], seed=5, launches=3))], peak_rss=6 * 1024**3)
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
    assert per_prompt.note == "one rated prompt: not tested" and per_prompt.verdict == INCONCLUSIVE

    same = compare_reports(rated_report("a", [4, 3, 5, 4, 4, 3, 5, 4]), rated_report("b", [4, 3, 5, 4, 4, 3, 5, 4]), gates)
    assert row(same, "human_score").verdict == SAME and not same.failed
    # One prompt scoring lower among eight is not a detectable change.
    one_lower = compare_reports(rated_report("a", [4] * 8), rated_report("b", [4] * 7 + [2]), gates)
    assert row(one_lower, "human_score").verdict == INCONCLUSIVE and not one_lower.failed


def test_no_human_score_rows_without_ratings_on_both_sides():
    unrated = rated_report("b", [4] * 3)
    for rated in unrated.models[0].prompts:
        rated.ratings = []
    comparison = compare_reports(rated_report("a", [4] * 3), unrated)
    assert row(comparison, "ttft_s", "p0")  # the prompts were compared, just without scores
    assert not [r for r in comparison.rows if r.metric == "human_score"]


@pytest.mark.skipif("cold_ttft_s" not in METRICS, reason="needs the cold_ttft_s metric of the launches work (issue 13)")
def test_cold_samples_are_their_own_row_and_left_out_of_warm_timings():
    def with_cold(run_id, cold_ttft, seed):
        data = simple_report(run_id, seed=seed, launches=4)
        for prompt_result in data.models[0].prompts[:1]:
            for launch in range(4):  # the first request of each launch is cold, and slow
                sample = prompt_result.samples[launch]
                sample.cold, sample.ttft_s = True, cold_ttft * (1 + 0.01 * launch)
        return data

    comparison = compare_reports(with_cold("a", 3.0, 1), with_cold("b", 4.5, 2))
    cold, warm = row(comparison, "cold_ttft_s"), row(comparison, "ttft_s")
    assert cold.launches == (4, 4) and cold.change == pytest.approx(0.5, abs=0.02) and cold.verdict == WORSE
    assert warm.verdict == SAME  # the slow cold requests are not in the warm figures

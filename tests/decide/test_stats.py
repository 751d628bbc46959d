"""The comparison statistics on synthetic samples whose answer is known, including simulated
runs with known variance components (launch-to-launch and request-to-request)."""

import numpy as np
import pytest

from bakeoff.decide.stats import (
    compare_launches,
    compare_proportions,
    detection_power,
    false_discovery_adjusted,
    launch_noise,
    launches_to_settle,
    launches_to_settle_gate,
    mcnemar_p_value,
    median_variance,
    paired_p_value,
    percentile_intervals,
    summarize,
)


def lognormal(median: float, n: int, seed: int, spread: float = 0.05) -> list[float]:
    """Timing-like samples: positive, skewed, about `spread` relative noise."""
    return list(median * np.exp(np.random.default_rng(seed).normal(0.0, spread, n)))


def run(rng, prompts: dict[str, float], launches: int, repeats: int, between: float, within: float, shift: float = 0.0):
    """One side's cells: each launch moves every prompt by a common factor (sd `between` on the
    log scale); each request varies around its launch by `within`."""
    cells = {}
    for launch in range(launches):
        level = shift + rng.normal(0.0, between)
        for prompt, median in prompts.items():
            cells[(prompt, launch)] = list(median * np.exp(level + rng.normal(0.0, within, repeats)))
    return cells


PROMPTS = {"short": 0.1, "long": 2.0, "code": 0.5}


def test_summarize_ignores_missing_values():
    assert summarize([None, None]) is None
    stats = summarize([1.0, None, 3.0, 2.0])
    assert stats["n"] == 3 and stats["median"] == 2.0 and stats["min"] == 1.0 and stats["max"] == 3.0


def test_one_launch_a_side_gives_an_estimate_but_no_interval():
    base = {("p", 0): lognormal(0.5, 30, seed=1)}
    cand = {("p", 0): lognormal(0.6, 30, seed=2)}
    estimate = compare_launches(base, cand)
    assert estimate.ratio == pytest.approx(1.2, abs=0.04)
    assert estimate.low is None and estimate.p_value is None and not estimate.above_one
    assert estimate.launches == (1, 1) and estimate.samples == (30, 30)
    assert estimate.within_sd == pytest.approx(0.05, abs=0.015)  # the requests' spread is still known
    assert launches_to_settle(estimate, 0.05) is None  # the launches' spread is not


def test_a_twenty_percent_shift_over_launches_is_found_and_sized():
    rng = np.random.default_rng(7)
    base = run(rng, PROMPTS, 5, 5, between=0.05, within=0.03)
    cand = run(rng, PROMPTS, 5, 5, between=0.05, within=0.03, shift=np.log(1.2))
    estimate = compare_launches(base, cand)
    assert estimate.above_one and estimate.p_value < 0.01
    assert estimate.ratio == pytest.approx(1.2, abs=0.06)
    assert estimate.low < 1.2 < estimate.high
    assert estimate.between_sd == pytest.approx(0.05, abs=0.04) and estimate.within_sd == pytest.approx(0.03, abs=0.01)


def test_launch_to_launch_noise_widens_the_interval_that_requests_alone_would_give():
    rng = np.random.default_rng(3)
    quiet = compare_launches(run(rng, PROMPTS, 4, 10, 0.0, 0.02), run(rng, PROMPTS, 4, 10, 0.0, 0.02))
    noisy = compare_launches(run(rng, PROMPTS, 4, 10, 0.2, 0.02), run(rng, PROMPTS, 4, 10, 0.2, 0.02))
    assert noisy.high / noisy.low > 3 * (quiet.high / quiet.low - 1) + 1
    assert noisy.between_sd > 0.1 > quiet.between_sd


def test_a_single_outlier_does_not_move_the_ratio_of_medians():
    base = {("p", 0): lognormal(0.5, 20, seed=1), ("p", 1): lognormal(0.5, 20, seed=3)}
    quiet = {("p", 0): lognormal(0.5, 20, seed=2), ("p", 1): lognormal(0.5, 20, seed=4)}
    spiked = {("p", 0): quiet[("p", 0)][:-1] + [50.0], ("p", 1): quiet[("p", 1)]}  # one request stalled 100x
    calm, noisy = compare_launches(base, quiet), compare_launches(base, spiked)
    assert not noisy.above_one
    assert noisy.ratio == pytest.approx(calm.ratio, rel=0.03)


def test_strata_weigh_alike():
    short = ({("s", 0): lognormal(0.1, 10, seed=1)}, {("s", 0): lognormal(0.12, 10, seed=2)})  # 20% slower
    long = ({("l", 0): lognormal(10.0, 10, seed=3)}, {("l", 0): lognormal(12.0, 10, seed=4)})  # 20% slower
    both = compare_launches({**short[0], **long[0]}, {**short[1], **long[1]})
    assert both.ratio == pytest.approx(1.2, abs=0.04)
    # A 20% change in the short prompt alone is a 10% change over both on the geometric scale.
    half = compare_launches({**short[0], **long[0]}, {**short[1], ("l", 0): lognormal(10.0, 10, seed=4)})
    assert half.ratio == pytest.approx(1.2**0.5, abs=0.04)


def test_same_answer_every_time_and_no_estimate_without_values():
    rng = np.random.default_rng(1)
    base, cand = run(rng, PROMPTS, 3, 3, 0.1, 0.05), run(rng, PROMPTS, 3, 3, 0.1, 0.05)
    assert compare_launches(base, cand) == compare_launches(base, cand)
    assert compare_launches({}, cand) is None
    assert compare_launches({("p", 0): [0.0]}, cand) is None


def test_median_variance_factors():
    assert median_variance(1) == 1.0 and median_variance(2) == 0.5
    assert median_variance(3) == pytest.approx(0.449, abs=0.02)
    assert median_variance(101) == pytest.approx(np.pi / 2 / 101, rel=0.05)


# Simulated comparisons with known variance components: 3 prompts, 3 launches a side, 3 warm
# requests per prompt and launch; launches differ by 12% (sd), requests within one by 3%.
SIMULATIONS = 1000
BETWEEN, WITHIN, LAUNCHES, REPEATS = 0.12, 0.03, 3, 3


def simulated_p_values(shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([
        compare_launches(run(rng, PROMPTS, LAUNCHES, REPEATS, BETWEEN, WITHIN),
                         run(rng, PROMPTS, LAUNCHES, REPEATS, BETWEEN, WITHIN, shift)).p_value
        for _ in range(SIMULATIONS)
    ])


def test_false_alarms_over_a_thousand_simulated_a_a_comparisons_stay_at_the_nominal_rate():
    alarms = float((simulated_p_values(0.0, seed=11) < 0.05).mean())
    tolerance = 2 * np.sqrt(0.05 * 0.95 / SIMULATIONS)  # two binomial standard errors: 1.4 points
    assert alarms <= 0.05 + tolerance, alarms
    # The request-level bootstrap this replaces saw only the within-launch spread: judged by the
    # same data it would call most of these identical runs different (the 8.1% "better").
    assert alarms > 0.01  # and the test is not vacuously conservative


@pytest.mark.slow  # 2,000 simulated comparisons: about 5 s on a busy 2-core machine
def test_known_shifts_are_detected_at_the_rate_the_power_calculation_predicts():
    # A launch summary averages the prompts' medians: its sd follows from the components.
    launch_sd = np.sqrt(BETWEEN**2 + WITHIN**2 * median_variance(REPEATS) / len(PROMPTS))
    for shift, seed in ((np.log(1.2), 12), (np.log(1.35), 13)):
        predicted = detection_power(shift, launch_sd, (LAUNCHES, LAUNCHES))
        detected = float((simulated_p_values(shift, seed) < 0.05).mean())
        assert detected == pytest.approx(predicted, abs=0.05), (shift, predicted, detected)


def test_launches_to_settle_follow_the_power_calculation():
    rng = np.random.default_rng(5)
    estimate = compare_launches(run(rng, PROMPTS, 3, 3, BETWEEN, WITHIN), run(rng, PROMPTS, 3, 3, BETWEEN, WITHIN, np.log(1.15)))
    needed = launches_to_settle(estimate, 0.05)
    assert needed is not None and needed > 3
    shift = abs(np.log(estimate.ratio))
    # Either the estimated change would then likely be detected, or bounded within +-5%.
    assert detection_power(shift, estimate.launch_sd, (needed, needed)) >= 0.8 or shift < np.log(1.05)
    assert detection_power(shift, estimate.launch_sd, (needed - 1, needed - 1)) < 0.8


def test_launches_to_settle_a_gate_are_sized_against_its_limit():
    """Beyond the limit: enough launches to detect the change. Within it: enough to keep the
    interval's far side inside the limit. Right at the limit: no count settles it."""
    sd = 0.08
    beyond = launches_to_settle_gate(1.25, sd, 0.10, increase=True)
    assert detection_power(np.log(1.25), sd, (beyond, beyond)) >= 0.8 > detection_power(np.log(1.25), sd, (beyond - 1, beyond - 1))
    within = launches_to_settle_gate(1.02, sd, 0.10, increase=True)
    assert within > 2 and launches_to_settle_gate(1.02, sd, 0.20, increase=True) < within  # a looser limit settles sooner
    assert launches_to_settle_gate(1.099, sd, 0.10, increase=True) is None
    # A decrease limit on a throughput: -25% decode is beyond a 10% limit, +2% is well within it.
    assert launches_to_settle_gate(0.75, sd, 0.10, increase=False) == launches_to_settle_gate(1 / 0.75, sd, np.exp(-np.log(0.9)) - 1, increase=True)
    assert launches_to_settle_gate(1.02, sd, 0.10, increase=False) < launches_to_settle_gate(0.98, sd, 0.10, increase=False)
    assert launches_to_settle_gate(1.25, None, 0.10, increase=True) is None


def test_proportions():
    same = compare_proportions(9, 10, 9, 10)
    assert same.difference == 0 and same.p_value == pytest.approx(1.0)
    drop = compare_proportions(30, 30, 10, 30)
    assert drop.difference == pytest.approx(-2 / 3) and drop.p_value < 0.001
    # Three repeats cannot show a change by themselves: 3/3 -> 0/3 is p = 0.1.
    assert compare_proportions(3, 3, 0, 3).p_value == pytest.approx(0.1)
    assert compare_proportions(0, 0, 1, 1) is None


def test_mcnemar_counts_only_the_prompts_that_flipped():
    assert mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(1, 0) == 1.0  # one prompt newly failing: a coin does that half the time
    assert mcnemar_p_value(6, 0) == pytest.approx(2 / 2**6)  # exact two-sided
    assert mcnemar_p_value(3, 3) == 1.0


def test_false_discovery_control():
    assert false_discovery_adjusted([]) == []
    adjusted = false_discovery_adjusted([0.01, 0.04, 0.03, 0.5])
    assert adjusted == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_paired_scores():
    assert paired_p_value([4.0], [3.0]) is None
    assert paired_p_value([4.0, 3.0, 5.0], [4.0, 3.0, 5.0]) == 1.0
    assert paired_p_value([4.0] * 8, [3.0] * 8) == pytest.approx(2 / 2**8)  # every pair lower: exact p


def test_one_runs_variance_components_are_recovered_where_the_noise_is():
    """Known components in, the same components out (median over 200 simulated runs): launches
    noisy and requests quiet, then the other way round."""
    rng = np.random.default_rng(7)
    for between, within in ((0.15, 0.02), (0.01, 0.10)):
        found = [launch_noise(run(rng, PROMPTS, launches=5, repeats=5, between=between, within=within)) for _ in range(200)]
        assert np.median([n.between_sd for n in found]) == pytest.approx(between, rel=0.25, abs=0.01)
        assert np.median([n.within_sd for n in found]) == pytest.approx(within, rel=0.1)
        assert all(n.launches == 5 for n in found)


def test_one_launch_has_no_between_launch_figure():
    noise = launch_noise(run(np.random.default_rng(1), PROMPTS, launches=1, repeats=4, between=0.1, within=0.05))
    assert noise.launches == 1 and noise.between_sd is None and noise.within_sd > 0
    assert launch_noise({}) is None


def test_percentile_intervals_cover_the_true_percentiles_at_the_nominal_rate():
    """Over 1,000 draws of 200 lognormal samples, each 95% interval holds the true median and p90
    about 95% of the time (order-statistic intervals are conservative: at least that)."""
    rng = np.random.default_rng(3)
    true = {"median": 1.0, "p90": float(np.exp(1.2815515655446004 * 0.3))}
    covered = {name: 0 for name in true}
    for _ in range(1000):
        intervals = percentile_intervals(list(np.exp(rng.normal(0, 0.3, 200))))
        for name, value in true.items():
            low, high = intervals[name]
            covered[name] += low <= value <= high
    for name in true:
        assert 0.93 <= covered[name] / 1000 <= 0.99, (name, covered[name])


def test_a_percentile_the_samples_cannot_bound_has_an_open_side():
    """18 samples bound p90 from below only, and p99 needs hundreds: the missing side is None, never a made-up figure."""
    intervals = summarize(lognormal(1.0, 18, seed=5))["intervals"]
    low, high = intervals["p90"]
    assert low is not None and high is None
    assert intervals["median"][0] < intervals["median"][1]
    assert intervals["p99"][1] is None

"""The comparison statistics on synthetic samples whose answer is known."""

import numpy as np
import pytest

from bakeoff.decide.stats import (
    compare_proportions,
    paired_p_value,
    ratio_of_medians,
    summarize,
)


def lognormal(median: float, n: int, seed: int, spread: float = 0.05) -> list[float]:
    """Timing-like samples: positive, skewed, about `spread` relative noise."""
    return list(median * np.exp(np.random.default_rng(seed).normal(0.0, spread, n)))


def test_summarize_ignores_missing_values():
    assert summarize([None, None]) is None
    stats = summarize([1.0, None, 3.0, 2.0])
    assert stats["n"] == 3 and stats["median"] == 2.0 and stats["min"] == 1.0 and stats["max"] == 3.0


def test_equal_distributions_give_an_interval_around_one():
    estimate = ratio_of_medians([(lognormal(0.5, 30, seed=1), lognormal(0.5, 30, seed=2))])
    assert estimate.low < 1.0 < estimate.high
    assert not estimate.above_one and not estimate.below_one
    assert estimate.ratio == pytest.approx(1.0, abs=0.05)


def test_a_twenty_percent_shift_is_found_and_sized():
    estimate = ratio_of_medians([(lognormal(0.5, 30, seed=1), lognormal(0.6, 30, seed=2))])
    assert estimate.above_one
    assert estimate.ratio == pytest.approx(1.2, abs=0.04)
    assert estimate.low < 1.2 < estimate.high


def test_a_single_outlier_does_not_move_the_ratio_of_medians():
    base = lognormal(0.5, 20, seed=1)
    quiet = lognormal(0.5, 20, seed=2)
    spiked = quiet[:-1] + [50.0]  # one request stalled 100x, e.g. the machine was busy for a moment
    calm, noisy = ratio_of_medians([(base, quiet)]), ratio_of_medians([(base, spiked)])
    assert not noisy.above_one
    assert noisy.ratio == pytest.approx(calm.ratio, rel=0.03)
    # The mean, by contrast, would have doubled several times over.
    assert np.mean(spiked) / np.mean(base) > 5


def test_strata_weigh_alike_and_resample_within_each():
    short = (lognormal(0.1, 10, seed=1), lognormal(0.12, 10, seed=2))  # 20% slower
    long = (lognormal(10.0, 10, seed=3), lognormal(12.0, 10, seed=4))  # 20% slower
    estimate = ratio_of_medians([short, long])
    assert estimate.above_one and estimate.ratio == pytest.approx(1.2, abs=0.04)
    # A 20% change in the short prompt alone is a 10% change over both on the geometric scale.
    half = ratio_of_medians([short, (long[0], lognormal(10.0, 10, seed=4))])
    assert half.ratio == pytest.approx(1.2**0.5, abs=0.04)


def test_three_samples_each_side_need_complete_separation():
    assert ratio_of_medians([([1.0, 1.1, 1.2], [1.3, 1.4, 1.5])]).above_one
    assert not ratio_of_medians([([1.0, 1.1, 1.35], [1.3, 1.4, 1.5])]).above_one


def test_same_answer_every_time():
    strata = [(lognormal(0.5, 5, seed=1), lognormal(0.55, 5, seed=2))]
    assert ratio_of_medians(strata) == ratio_of_medians(strata)


def test_too_few_or_non_positive_samples_give_no_estimate():
    assert ratio_of_medians([([1.0], [1.0, 2.0])]) is None
    assert ratio_of_medians([([0.0, 1.0], [1.0, 2.0])]) is None
    assert ratio_of_medians([]) is None


def test_proportions():
    same = compare_proportions(9, 10, 9, 10)
    assert same.difference == 0 and same.p_value == pytest.approx(1.0)
    drop = compare_proportions(30, 30, 10, 30)
    assert drop.difference == pytest.approx(-2 / 3) and drop.p_value < 0.001
    # Three repeats cannot show a change by themselves: 3/3 -> 0/3 is p = 0.1.
    assert compare_proportions(3, 3, 0, 3).p_value == pytest.approx(0.1)
    assert compare_proportions(0, 0, 1, 1) is None


def test_paired_scores():
    assert paired_p_value([4.0], [3.0]) is None
    assert paired_p_value([4.0, 3.0, 5.0], [4.0, 3.0, 5.0]) == 1.0
    assert paired_p_value([4.0] * 8, [3.0] * 8) == pytest.approx(2 / 2**8)  # every pair lower: exact p

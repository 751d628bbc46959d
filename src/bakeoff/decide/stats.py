"""Statistics of a metric's samples: summaries, and changes between two runs (pure functions, no I/O)."""

from __future__ import annotations

import functools
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np


def summarize(values: list[float | None]) -> dict | None:
    """Median, mean, spread, p90, p95 and p99 of the samples that have a value, with intervals
    on the percentiles users compare; None when none has."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    cuts = statistics.quantiles(present, n=100, method="inclusive") if len(present) > 1 else [present[0]] * 99
    return {
        "intervals": percentile_intervals(present),
        "n": len(present),
        "median": statistics.median(present),
        "mean": statistics.fmean(present),
        "min": min(present),
        "max": max(present),
        "stdev": statistics.stdev(present) if len(present) > 1 else 0.0,
        "p90": cuts[89],
        "p95": cuts[94],
        "p99": cuts[98],
    }


# Comparing two runs. Timing samples are skewed and a shared machine adds outliers, so changes
# are judged on medians, on the log scale (a ratio), rather than on means.
#
# The noise is hierarchical (Kalibera & Jones, "Rigorous Benchmarking in Reasonable Time"):
# decode speed can move 11% (quiet machine) to 15-25% (loaded) between two launches of one
# server, while the requests inside one launch agree to about 1%. So the unit of repetition
# is the launch: each launch gets one summary (per prompt the log median of its warm requests,
# less the prompt's effect, averaged over prompts), and the two sides' launch summaries are
# compared with Student's t.
# That is the nested (launches, then requests) mixed model on the log scale, in the summary form
# that is exact for it; a bootstrap over 2-5 launches gives intervals far too narrow. One launch
# a side has no launch-to-launch spread to go on: no interval, and the verdict is inconclusive.

CONFIDENCE = 0.95
POWER = 0.8  # the chance of settling a question that "more launches would likely settle" means
MOST_LAUNCHES = 50  # beyond this a question is not worth settling by repetition


# The percentiles users compare, and the share of the samples each lies above.
PERCENTILES = {"median": 0.5, "p90": 0.9, "p99": 0.99}


def percentile_intervals(
    values: list[float], *, confidence: float = CONFIDENCE
) -> dict[str, tuple[float | None, float | None]]:
    """Distribution-free confidence intervals (order statistics, as `scipy.stats.quantile_test`
    gives them) of the median, p90 and p99 of these samples, taken as independent draws. A bound
    that needs more samples than there are is None: 18 samples bound p90 from below only."""
    import scipy.stats  # loaded on first use

    intervals = {}
    for name, share in PERCENTILES.items():
        test = scipy.stats.quantile_test(values, q=float(np.quantile(values, share)), p=share)
        interval: Any = test.confidence_interval(confidence)  # a ConfidenceInterval, though scipy-stubs say float
        low, high = interval.low, interval.high
        intervals[name] = (None if np.isnan(low) else float(low), None if np.isnan(high) else float(high))
    return intervals


# The cells of one side: (stratum, launch) -> the warm values of that prompt in that launch.
Cells = dict[tuple[str, int], list[float]]


@dataclass(frozen=True)
class Estimate:
    """candidate / baseline as a ratio of medians, with its confidence interval when there is one.

    `low`/`high` and `p_value` are None with fewer than two launches on a side. The variance
    components are standard deviations on the log scale (about relative: 0.1 is about 10%):
    `between_sd` of the launches themselves, `within_sd` of one request around its launch, and
    `launch_sd` of a launch's summary (both together, as repeated in this run), which the test
    and the count of launches needed go on.
    """

    ratio: float
    low: float | None
    high: float | None
    p_value: float | None
    launches: tuple[int, int]  # (baseline, candidate)
    samples: tuple[int, int]
    launch_sd: float | None = None
    between_sd: float | None = None
    within_sd: float | None = None

    @property
    def above_one(self) -> bool:
        """Detectably larger: the whole interval lies above 1."""
        return self.low is not None and self.low > 1.0


def compare_launches(baseline: Cells, candidate: Cells, *, confidence: float = CONFIDENCE) -> Estimate | None:
    """candidate / baseline of a metric whose values are grouped by (stratum, launch).

    Strata (prompts) weigh alike: the ratio is the geometric mean over strata of the ratio of
    the launches' geometric mean medians (with one launch a side: the geometric mean of the
    prompts' ratios of medians). None without a positive value on both sides.
    """
    summaries = _launch_summaries([baseline, candidate])
    if summaries is None:
        return None
    base, cand = summaries
    difference = float(cand.mean() - base.mean())
    counts = (sum(len(v) for v in baseline.values()), sum(len(v) for v in candidate.values()))
    within = _within_sd([baseline, candidate])
    if len(base) < 2 or len(cand) < 2:
        return Estimate(float(np.exp(difference)), None, None, None, (len(base), len(cand)), counts, within_sd=within)
    import scipy.stats  # loaded on first use: `bakeoff serve` and `import bakeoff` stay light

    df = len(base) + len(cand) - 2
    launch_var = (((base - base.mean()) ** 2).sum() + ((cand - cand.mean()) ** 2).sum()) / df
    se = float(np.sqrt(launch_var * (1 / len(base) + 1 / len(cand))))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, df)) * se
    p_value = float(2 * scipy.stats.t.sf(abs(difference) / se, df)) if se > 0 else (1.0 if difference == 0 else 0.0)
    between = _between_sd(launch_var, within, [baseline, candidate])
    return Estimate(
        float(np.exp(difference)),
        float(np.exp(difference - half)),
        float(np.exp(difference + half)),
        p_value,
        (len(base), len(cand)),
        counts,
        float(np.sqrt(launch_var)),
        between,
        within,
    )


@dataclass(frozen=True)
class Noise:
    """Where one run's noise in a metric is: standard deviations on the log scale (about
    relative), `between_sd` of the launches themselves (None with one launch) and `within_sd`
    of one request around its launch (None without two requests of a prompt in a launch)."""

    launches: int
    between_sd: float | None
    within_sd: float | None


def launch_noise(cells: Cells) -> Noise | None:
    """The variance components of one run's metric, its values grouped by (stratum, launch)."""
    summaries = _launch_summaries([cells])
    if summaries is None:
        return None
    (launches,) = summaries
    within = _within_sd([cells])
    if len(launches) < 2:
        return Noise(1, None, within)
    launch_var = float(launches.var(ddof=1))
    return Noise(len(launches), _between_sd(launch_var, within, [cells]), within)


def _launch_summaries(sides: list[Cells]) -> list[np.ndarray] | None:
    """Per side, each launch's summary: the mean over strata of its log median less the
    stratum's effect (the stratum's mean over every side and launch). None when a side has
    no positive value."""
    medians = [_log_medians(cells) for cells in sides]
    if not all(medians):
        return None
    strata = {stratum for side in medians for stratum, _ in side}
    effect = {
        s: float(np.mean([m for side in medians for (stratum, _), m in side.items() if stratum == s])) for s in strata
    }
    summaries = []
    for side in medians:
        by_launch: dict[int, list[float]] = {}
        for (stratum, launch), median in side.items():
            by_launch.setdefault(launch, []).append(median - effect[stratum])
        summaries.append(np.array([np.mean(v) for v in by_launch.values()]))
    return summaries


def _log_medians(cells: Cells) -> dict[tuple[str, int], float]:
    return {key: float(np.log(np.median(v))) for key, v in cells.items() if v and min(v) > 0}


def _within_sd(sides: list[Cells]) -> float | None:
    """The pooled standard deviation of log values around their (prompt, launch) cell's mean."""
    squares, df = 0.0, 0
    for cells in sides:
        for values in cells.values():
            logs = np.log([v for v in values if v > 0])
            if len(logs) > 1:
                squares += float(((logs - logs.mean()) ** 2).sum())
                df += len(logs) - 1
    return float(np.sqrt(squares / df)) if df else None


def _between_sd(launch_var: float, within_sd: float | None, sides: list[Cells]) -> float:
    """The launch-to-launch standard deviation: a launch summary's variance less what its own
    requests add (the variance of a median of n, over the prompts it averages)."""
    if within_sd is None:
        return float(np.sqrt(launch_var))
    shares = []
    for cells in sides:
        by_launch: dict[int, list[int]] = {}
        for (_, launch), values in cells.items():
            by_launch.setdefault(launch, []).append(len(values))
        shares += [sum(median_variance(n) for n in sizes) / len(sizes) ** 2 for sizes in by_launch.values()]
    return float(np.sqrt(max(0.0, launch_var - within_sd**2 * float(np.mean(shares)))))


@functools.cache
def median_variance(n: int) -> float:
    """The variance of the median of n standard normal values (1 for one value, 1/2 for two,
    about pi/2n for many), by a fixed-seed simulation: exact enough for variance components."""
    if n <= 2:
        return 1.0 / n
    draws = np.random.default_rng(n).standard_normal((20_000, n))
    return float(np.median(draws, axis=1).var())


def detection_power(
    shift: float, launch_sd: float, launches: tuple[int, int], *, confidence: float = CONFIDENCE
) -> float:
    """The chance that `compare_launches` detects a true change of `shift` (log of the ratio)
    with these launches a side, when a launch summary varies by `launch_sd` (non-central t)."""
    import scipy.stats  # loaded on first use

    df = launches[0] + launches[1] - 2
    if df < 1:
        return 0.0
    se = launch_sd * np.sqrt(1 / launches[0] + 1 / launches[1])
    if se == 0:
        return 1.0 if shift else 0.0
    critical = scipy.stats.t.ppf(0.5 + confidence / 2, df)
    noncentrality = shift / se
    return float(scipy.stats.nct.sf(critical, df, noncentrality) + scipy.stats.nct.cdf(-critical, df, noncentrality))


def launches_to_settle(
    estimate: Estimate, margin: float, *, confidence: float = CONFIDENCE, power: float = POWER
) -> int | None:
    """Launches a side that would likely (with `power`) settle an inconclusive comparison, either
    way: detect the change estimated now, or bound it within +-`margin` (relative). None when
    the launch-to-launch spread is unknown (one launch a side) or it would take more than
    MOST_LAUNCHES."""
    if estimate.launch_sd is None:
        return None
    shift = abs(np.log(estimate.ratio))
    room = np.log(1 + margin) - shift  # how far the interval may reach past the estimate
    for launches in range(2, MOST_LAUNCHES + 1):
        if (
            estimate.launch_sd == 0
            or detection_power(shift, estimate.launch_sd, (launches, launches), confidence=confidence) >= power
        ):
            return launches
        if _bounded(room, estimate.launch_sd, launches, confidence, power):
            return launches
    return None


def launches_to_settle_gate(
    ratio: float,
    launch_sd: float | None,
    limit: float,
    *,
    increase: bool,
    confidence: float = CONFIDENCE,
    power: float = POWER,
) -> int | None:
    """Launches a side that would likely settle a gate's relative limit (`increase`: at most
    +limit, else at most -limit): detect the change estimated now when it lies beyond the
    limit, or keep the interval's far side inside the limit when it lies within. None when
    the launch-to-launch spread is unknown or it would take more than MOST_LAUNCHES."""
    if launch_sd is None:
        return None
    sign = 1 if increase else -1
    change, threshold = sign * np.log(ratio), sign * np.log(1 + sign * limit)  # worse is positive
    for launches in range(2, MOST_LAUNCHES + 1):
        if change > threshold:
            if (
                launch_sd == 0
                or detection_power(change, launch_sd, (launches, launches), confidence=confidence) >= power
            ):
                return launches
        elif launch_sd == 0 or _bounded(threshold - change, launch_sd, launches, confidence, power):
            return launches
    return None


def _bounded(room: float, launch_sd: float, launches: int, confidence: float, power: float) -> bool:
    """Whether, with `launches` a side, an interval's side would likely (with `power`) stay
    within `room` of the estimate (log scale)."""
    import scipy.stats  # loaded on first use

    df = 2 * launches - 2
    spread = scipy.stats.t.ppf(0.5 + confidence / 2, df) + scipy.stats.t.ppf(power, df)
    return room > 0 and spread * launch_sd * np.sqrt(2 / launches) <= room


@dataclass(frozen=True)
class ProportionChange:
    """candidate - baseline share of passes, and Fisher's exact test of the difference."""

    baseline: float
    candidate: float
    p_value: float

    @property
    def difference(self) -> float:
        return self.candidate - self.baseline


def compare_proportions(
    base_passed: int, base_total: int, cand_passed: int, cand_total: int
) -> ProportionChange | None:
    """Two shares of passes that cannot be paired (one prompt's attempts), by Fisher's exact test."""
    import scipy.stats  # loaded on first use: `bakeoff serve` and `import bakeoff` stay light

    if base_total == 0 or cand_total == 0:
        return None
    table = [[base_passed, base_total - base_passed], [cand_passed, cand_total - cand_passed]]
    p_value = float(scipy.stats.fisher_exact(np.array(table)).pvalue)
    return ProportionChange(base_passed / base_total, cand_passed / cand_total, p_value)


def mcnemar_p_value(newly_failing: int, newly_passing: int) -> float:
    """Exact McNemar test of passes paired by prompt: of the prompts whose outcome flipped, are
    the flips one way more than chance (a fair coin) gives? 1 when nothing flipped."""
    import scipy.stats  # loaded on first use

    flips = newly_failing + newly_passing
    return float(scipy.stats.binomtest(newly_failing, flips, 0.5).pvalue) if flips else 1.0


def false_discovery_adjusted(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: calling every one below alpha a change keeps the
    expected share of false discoveries among them at alpha."""
    import scipy.stats  # loaded on first use

    return [float(q) for q in scipy.stats.false_discovery_control(p_values)] if p_values else []


def paired_p_value(base: list[float], candidate: list[float]) -> float | None:
    """Wilcoxon's signed-rank test on pairs (one per prompt); None with fewer than two pairs."""
    import scipy.stats  # loaded on first use: `bakeoff serve` and `import bakeoff` stay light

    differences = [c - b for b, c in zip(base, candidate, strict=True)]
    if len(differences) < 2:
        return None
    if not any(differences):
        return 1.0
    return float(scipy.stats.wilcoxon(differences).pvalue)

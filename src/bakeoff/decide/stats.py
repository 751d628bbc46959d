"""Statistics of a metric's samples: summaries, and changes between two runs (pure functions, no I/O)."""

from __future__ import annotations

import statistics
import warnings
from dataclasses import dataclass

import numpy as np


def summarize(values: list[float | None]) -> dict | None:
    """Median, mean, spread and p95 of the samples that have a value; None when none has."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return {
        "n": len(present),
        "median": statistics.median(present),
        "mean": statistics.fmean(present),
        "min": min(present),
        "max": max(present),
        "stdev": statistics.stdev(present) if len(present) > 1 else 0.0,
        "p95": statistics.quantiles(present, n=20, method="inclusive")[-1] if len(present) > 1 else present[0],
    }


# Comparing two runs. Timing samples are skewed and a shared machine adds outliers, so changes
# are judged on medians, with a bootstrap interval from the samples rather than on means.

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 20240611  # fixed, so comparing the same two reports always gives the same answer


@dataclass(frozen=True)
class Estimate:
    """candidate / baseline as a ratio of medians, with its bootstrap confidence interval."""

    ratio: float
    low: float
    high: float

    @property
    def above_one(self) -> bool:
        """Detectably larger: the whole interval lies above 1."""
        return self.low > 1.0

    @property
    def below_one(self) -> bool:
        return self.high < 1.0


def ratio_of_medians(strata: list[tuple[list[float], list[float]]], *, confidence: float = CONFIDENCE) -> Estimate | None:
    """The ratio candidate/baseline of medians, over one or more strata (prompts).

    Each stratum is a (baseline samples, candidate samples) pair. With several strata the ratio
    is the geometric mean of the strata's ratios of medians, so a long prompt and a short one
    weigh alike, and the bootstrap resamples within each stratum. None when a stratum has fewer
    than two samples on a side or a value that is not positive.
    """
    import scipy.stats  # loaded on first use: `bakeoff serve` and `import bakeoff` stay light

    usable = [(np.asarray(b, float), np.asarray(c, float)) for b, c in strata]
    if not usable or any(len(b) < 2 or len(c) < 2 or (b <= 0).any() or (c <= 0).any() for b, c in usable):
        return None
    data = [sample for pair in usable for sample in pair]
    point = float(_geometric_mean_ratio(*data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identical samples make a degenerate (zero-width) interval, which is right
        interval = scipy.stats.bootstrap(
            data,
            _geometric_mean_ratio,
            n_resamples=RESAMPLES,
            confidence_level=confidence,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(SEED),
        ).confidence_interval
    return Estimate(point, float(interval.low), float(interval.high))


def _geometric_mean_ratio(*samples, axis=-1):
    baselines, candidates = samples[0::2], samples[1::2]
    logs = [np.log(np.median(c, axis=axis)) - np.log(np.median(b, axis=axis)) for b, c in zip(baselines, candidates)]
    return np.exp(np.mean(logs, axis=0))


@dataclass(frozen=True)
class ProportionChange:
    """candidate - baseline share of passes, and Fisher's exact test of the difference."""

    baseline: float
    candidate: float
    p_value: float

    @property
    def difference(self) -> float:
        return self.candidate - self.baseline


def compare_proportions(base_passed: int, base_total: int, cand_passed: int, cand_total: int) -> ProportionChange | None:
    import scipy.stats  # loaded on first use: `bakeoff serve` and `import bakeoff` stay light

    if base_total == 0 or cand_total == 0:
        return None
    table = [[base_passed, base_total - base_passed], [cand_passed, cand_total - cand_passed]]
    p_value = float(scipy.stats.fisher_exact(table).pvalue)
    return ProportionChange(base_passed / base_total, cand_passed / cand_total, p_value)



def paired_p_value(base: list[float], candidate: list[float]) -> float | None:
    """Wilcoxon's signed-rank test on pairs (one per prompt); None with fewer than two pairs."""
    import scipy.stats  # loaded on first use: `bakeoff serve` and `import bakeoff` stay light

    differences = [c - b for b, c in zip(base, candidate)]
    if len(differences) < 2:
        return None
    if not any(differences):
        return 1.0
    return float(scipy.stats.wilcoxon(differences).pvalue)

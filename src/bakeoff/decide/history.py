"""Deciding over a history of runs (nightly reports): per model x runtime x metric, the series
and its change points.

One baseline says whether tonight differs from one night; a history says when a figure moved
and whether it stayed moved (MongoDB's and Apache Otava's change-point detection over CI
results). Change points are found by PELT (`ruptures`) on the log of each series (relative
changes), with a penalty scaled by the series' own noise (a robust estimate from successive
differences), then kept only when the segments either side differ by Welch's t-test (the last
run alone against the segment before it: a prediction interval) and by at least `min_effect`.
One odd run inside the series is an outlier, not a new level.
Works on `Report`s as data; `change_points` is pure numbers.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

import numpy as np

from bakeoff.metrics import METRICS, metric_keys
from bakeoff.report.model import ModelRecord, Report

BETTER, WORSE = "better", "worse"


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first run of the new level
    before: float  # the median of the segment before (stored unit)
    after: float  # the median of the segment from `index` on
    p_value: float

    @property
    def change(self) -> float:
        return self.after / self.before - 1 if self.before else math.inf


@dataclass
class Series:
    model: str
    runtime: str
    metric: str
    runs: list[str]  # run ids, oldest first
    values: list[float | None]
    change_points: list[ChangePoint] = field(default_factory=list)

    def direction(self, point: ChangePoint) -> str:
        return BETTER if (point.after < point.before) == METRICS[self.metric].lower_is_better else WORSE

    @property
    def worse_at_last(self) -> bool:
        """The last run starts a new level, for the worse: what a nightly gate fails on."""
        return any(p.index == len(self.values) - 1 and self.direction(p) == WORSE for p in self.change_points)

    def to_dict(self) -> dict:
        data = asdict(self)
        for point, plain in zip(self.change_points, data["change_points"], strict=True):
            plain.update(run=self.runs[point.index], change=point.change, direction=self.direction(point))
        data["worse_at_last"] = self.worse_at_last
        return data


def history(
    reports: list[Report], *, metrics: list[str] | None = None, confidence: float = 0.95, min_effect: float = 0.05
) -> list[Series]:
    """Reports in the order they ran (one per run id; a copy such as baseline.json counts once)."""
    unique = {report.run_id: report for report in reports}
    ordered = sorted(unique.values(), key=lambda report: report.started_at)
    keys = list(dict.fromkeys(m.key for r in ordered for m in r.models if m.status == "ran"))
    found = []
    for name, runtime in keys:
        records = [next((m for m in r.models if m.key == (name, runtime) and m.status == "ran"), None) for r in ordered]
        shared = set.intersection(*({p.id for p in m.prompts} for m in records if m))
        for metric in metrics or metric_keys(compared=True):
            values = [_figure(m, metric, shared) if m else None for m in records]
            if sum(v is not None for v in values) < 2:
                continue
            series = Series(name, runtime, metric, [r.run_id for r in ordered], values)
            present = [(i, v) for i, v in enumerate(values) if v is not None]
            points = change_points(
                [v for _, v in present],
                confidence=confidence,
                min_effect=min_effect,
                relative=METRICS[metric].unit != "%",
            )
            series.change_points = [ChangePoint(present[p.index][0], p.before, p.after, p.p_value) for p in points]
            found.append(series)
    return found


def _figure(model: ModelRecord, metric: str, prompts: set[str]) -> float | None:
    """A run's one figure: per-sample metrics as the geometric mean of the shared prompts' medians
    (as comparisons do), the share of check outcomes that passed, the mean of a prompt's score
    over the prompts scored, or the model's own figure."""
    chosen = [p for p in model.prompts if p.id in prompts]
    row = METRICS[metric]
    if row.test == "passes":
        outcomes = [c.passed for p in chosen for s in p.samples for c in s.checks]
        return sum(outcomes) / len(outcomes) if outcomes else None
    if row.per == "prompt":
        scores = [score for p in chosen if (score := row.of(p)) is not None]
        return statistics.fmean(scores) if scores else None
    if row.per == "model":
        return row.of(model)
    medians = [m for p in chosen if (m := row.median(p.samples))]
    return statistics.geometric_mean(medians) if medians else None


def change_points(
    values: list[float], *, confidence: float = 0.95, min_effect: float = 0.05, relative: bool = True
) -> list[ChangePoint]:
    """The indices where a series moves to a new level, each tested against the segment before."""
    import ruptures  # loaded on first use, like scipy
    import scipy.stats

    raw = np.asarray(values, float)
    if len(raw) < 3 or (relative and (raw <= 0).any()):
        return []
    x = np.log(raw) if relative else raw
    noise = _noise(x)
    penalty = 2 * noise**2 * math.log(len(x))
    ends = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(x.reshape(-1, 1)).predict(pen=penalty)
    starts = [0, *ends[:-1]]
    found = []
    for before_start, start, end in zip(starts, starts[1:], ends[1:], strict=False):
        before, after = x[before_start:start], x[start:end]
        if len(before) == 1 or (len(after) == 1 and end != len(x)):
            continue  # one odd run inside the series is an outlier, not a new level; the last run may start one
        p_value = _p_value(before, after, noise, scipy.stats)
        level_before, level_after = float(np.median(raw[before_start:start])), float(np.median(raw[start:end]))
        effect = abs(level_after / level_before - 1) if relative else abs(level_after - level_before)
        if p_value < 1 - confidence and effect >= min_effect:
            found.append(ChangePoint(start, level_before, level_after, p_value))
    return found


def _noise(x: np.ndarray) -> float:
    """The standard deviation of one run around its level, robust to the steps themselves: the
    median absolute successive difference, scaled for normal noise."""
    differences = np.abs(np.diff(x))
    noise = float(np.median(differences)) / (0.6745 * math.sqrt(2))
    return max(noise, 1e-9 * max(1.0, float(np.abs(x).max())))


def _p_value(before: np.ndarray, after: np.ndarray, noise: float, stats) -> float:
    if len(before) >= 2 and len(after) >= 2:
        if before.std() == 0 and after.std() == 0:
            return 0.0 if before.mean() != after.mean() else 1.0
        return float(stats.ttest_ind(before, after, equal_var=False).pvalue)
    # One run on a side: is it outside what the other side's spread predicts for one more run?
    single, rest = (before, after) if len(before) == 1 else (after, before)
    spread = rest.std(ddof=1) if len(rest) >= 2 else noise
    spread = max(spread, noise)
    t = (single[0] - rest.mean()) / (spread * math.sqrt(1 + 1 / len(rest)))
    return float(2 * stats.t.sf(abs(t), max(len(rest) - 1, 1)))

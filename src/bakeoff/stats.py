"""Summary statistics of a metric's samples (pure functions, no I/O)."""

from __future__ import annotations

import statistics


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

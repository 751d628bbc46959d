"""The metrics table: every figure bakeoff measures or derives, once, with how to name, show and judge it.

Everything that lists metrics derives from `METRICS`: the statistics of a prompt's samples, the
metrics a comparison rows and a gate may name, the terminal tables, the charts, the HTML page and
the CSV columns. A metric is measured per sample (one value per request), per model (one value
per model and run) or per prompt (derived from a prompt's check outcomes or ratings).

Each row says how its value is read (`read`, from a sample, a model record or a prompt result) and
how a comparison tests it (`test`), so a new per-sample metric is one row: its `read` computes the
value from a sample's fields, or names a figure the client measured (`Sample.figures`), and the
report's samples, the statistics, comparisons and gates follow. `Metric.of` holds the one rule
for cold samples.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

MIB = 1024**2


# How a comparison tests a metric, by what it is measured per, unless its row says otherwise.
DEFAULT_TEST = {"sample": "launches", "model": "once", "prompt": "paired"}


@dataclass(frozen=True)
class Metric:
    key: str  # the field in a report and the name gates use
    label: str  # in prose: "time to first token"
    short: str  # in an 80-column row: "TTFT"
    unit: str  # of the shown figure: "ms", "s", "tok/s", "MB", "%" or ""
    better: Literal["lower", "higher"] | None  # None: neither (output tokens)
    per: Literal["sample", "model", "prompt"]
    scale: float = 1.0  # stored value x scale = shown value
    digits: int = 1
    compared: bool = False  # a comparison rows it, so a gate may name it
    column: str = ""  # its name in the shown unit, for CSV headers
    heading: str = ""  # a narrow column's heading, with the unit: "TTFT ms"
    # How its value is read from a sample, a model record or a prompt result (as `per` says);
    # None: the field named `key` (or the figure of that name the client measured).
    read: Callable[[Any], float | None] | None = None
    cold: bool = False  # a per-sample metric of the first request after each load only
    # How a comparison tests it: launches (ratio of medians, launches as the unit), once (one
    # figure a side), passes (check outcomes, McNemar/Fisher), paired (scores paired by prompt).
    test: Literal["launches", "once", "passes", "paired"] | None = None

    def __post_init__(self):
        object.__setattr__(self, "column", self.column or self.key)
        object.__setattr__(self, "heading", self.heading or f"{self.short} {self.unit}".strip())
        object.__setattr__(self, "test", self.test or DEFAULT_TEST[self.per])

    def of(self, item: Any) -> float | None:
        """The value for `item` (a measured `Sample` or a report's `SampleRecord`, a `ModelRecord`
        or a `PromptResult`, as `per` says). The one cold rule: a sample counts in a cold metric
        only when it is cold, and in every other per-sample metric only when it is warm."""
        if self.per == "sample" and bool(getattr(item, "cold", False)) != self.cold:
            return None
        return (self.read or _attribute(self.key))(item)

    def values(self, samples: Iterable[Any]) -> list[float]:
        """A per-sample metric's values, from the samples that count in it and have one."""
        return [value for sample in samples if (value := self.of(sample)) is not None]

    def median(self, samples: Iterable[Any]) -> float | None:
        found = self.values(samples)
        return statistics.median(found) if found else None

    @property
    def lower_is_better(self) -> bool:
        return self.better == "lower"

    def shown(self, value: float | None) -> float | None:
        """The value in the shown unit, rounded to the shown digits."""
        return None if value is None else round(value * self.scale, self.digits or None)

    def number(self, value: float | None, missing: str = "-") -> str:
        """The value in the shown unit, without the unit (a column says it)."""
        return missing if value is None else f"{value * self.scale:.{self.digits}f}"

    def figure(self, value: float | None, missing: str = "-") -> str:
        """The value with its unit: "412 ms", "30.1 tok/s", "85%"."""
        if value is None:
            return missing
        gap = "" if self.unit in ("%", "") else " "
        return f"{self.number(value)}{gap}{self.unit}"


def _attribute(key: str) -> Callable[[Any], float | None]:
    """A reader of the field `key`: of a record, or of a measured sample (where a figure without a
    field of its own is in `Sample.figures`; its record keeps it as a field)."""

    def read(item: Any) -> float | None:
        value = getattr(item, key, None)
        return value if value is not None else getattr(item, "figures", {}).get(key)

    return read


def _check_pass_share(prompt: Any) -> float | None:
    """The share of a prompt's check outcomes (every check on every attempt) that passed."""
    outcomes = [c.passed for s in prompt.samples for c in s.checks]
    return sum(outcomes) / len(outcomes) if outcomes else None


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("ttft_s", "time to first token", "TTFT", "ms", "lower", "sample", 1000, 0, True, "ttft_ms"),
        Metric(
            "cold_ttft_s",
            "cold time to first token (first request after each load)",
            "cold TTFT",
            "ms",
            "lower",
            "sample",
            1000,
            0,
            False,
            "cold_ttft_ms",
            read=_attribute("ttft_s"),
            cold=True,
        ),
        Metric("total_s", "total latency", "total", "s", "lower", "sample", 1, 2, True),
        Metric("output_tokens", "output tokens", "tokens", "", None, "sample", 1, 0),
        Metric(
            "decode_tokens_per_s", "decode tokens/s", "decode", "tok/s", "higher", "sample", 1, 1, True, heading="tok/s"
        ),
        Metric("itl_p50_s", "inter-token latency p50", "ITL p50", "ms", "lower", "sample", 1000, 1, True, "itl_p50_ms"),
        Metric(
            "itl_p95_s", "inter-token latency p95", "ITL p95", "ms", "lower", "sample", 1000, 1, False, "itl_p95_ms"
        ),
        Metric("ready_seconds", "time to ready", "ready", "s", "lower", "model", 1, 1, False, "ready_s"),
        Metric("load_seconds", "load time", "load", "s", "lower", "model", 1, 1, False, "load_s"),
        Metric(
            "rss_after_load_bytes",
            "RSS after load",
            "RSS after load",
            "MB",
            "lower",
            "model",
            1 / MIB,
            0,
            False,
            "rss_after_load_mb",
        ),
        Metric(
            "peak_rss_bytes", "peak RSS", "peak RSS", "MB", "lower", "model", 1 / MIB, 0, True, "peak_rss_mb", "peak MB"
        ),
        Metric("cpu_seconds", "CPU time", "CPU", "s", "lower", "model", 1, 1, False, "cpu_s"),
        Metric(
            "gpu_memory_after_load_bytes",
            "GPU memory after load",
            "GPU after load",
            "MB",
            "lower",
            "model",
            1 / MIB,
            0,
            False,
            "gpu_memory_after_load_mb",
        ),
        Metric(
            "peak_gpu_memory_bytes",
            "peak GPU memory",
            "peak GPU",
            "MB",
            "lower",
            "model",
            1 / MIB,
            0,
            True,
            "peak_gpu_memory_mb",
            "GPU MB",
        ),
        Metric("gpu_utilization_percent", "GPU utilisation (median)", "GPU util", "%", None, "model", 1, 0, False),
        Metric("mean_power_watts", "mean power", "power", "W", "lower", "model", 1, 0, False, "mean_power_w"),
        Metric(
            "joules_per_token",
            "energy per output token",
            "energy",
            "J/tok",
            "lower",
            "model",
            1,
            3,
            True,
            heading="J/tok",
        ),
        Metric(
            "check_pass_rate",
            "check pass rate",
            "check pass rate",
            "%",
            "higher",
            "prompt",
            100,
            0,
            True,
            read=_check_pass_share,
            test="passes",
        ),
        Metric("human_score", "human score (1-5)", "human score", "", "higher", "prompt", 1, 2, True),
        Metric("judge_score", "judge score (1-5)", "judge score", "", "higher", "prompt", 1, 2, True),
    )
}


def metric_keys(*, per: str | None = None, compared: bool | None = None, test: str | None = None) -> tuple[str, ...]:
    """The table's metrics of a kind, in its order, read when asked (so a row added to `METRICS`
    is in every list): per="sample" are a prompt's statistics, compared=True what a gate may name."""
    return tuple(
        key
        for key, m in METRICS.items()
        if per in (None, m.per) and compared in (None, m.compared) and test in (None, m.test)
    )


def change_text(change: float | None, kind: str, low: float | None = None, high: float | None = None) -> str:
    """A change as people read it: "+12.5%" with its interval "[+3%, +22%]" when given, or "-8 pt"
    for a difference of shares (pass rates)."""
    if change is None:
        return "-"
    if kind == "points":
        return f"{change * 100:+.0f} pt"
    interval = f" [{low:+.0%}, {high:+.0%}]" if low is not None and high is not None else ""
    return f"{change:+.1%}{interval}"

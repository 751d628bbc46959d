"""The metrics table: every figure bakeoff measures or derives, once, with how to name, show and judge it.

Everything that lists metrics derives from `METRICS`: the statistics of a prompt's samples, the
metrics a comparison rows and a gate may name, the terminal tables, the charts, the HTML page and
the CSV columns. A metric is measured per sample (one value per request), per model (one value
per model and run) or per prompt (derived from a prompt's check outcomes or ratings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MIB = 1024**2


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

    def __post_init__(self):
        object.__setattr__(self, "column", self.column or self.key)
        object.__setattr__(self, "heading", self.heading or f"{self.short} {self.unit}".strip())

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


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("ttft_s", "time to first token", "TTFT", "ms", "lower", "sample", 1000, 0, True, "ttft_ms"),
        Metric("cold_ttft_s", "cold time to first token (first request after each load)", "cold TTFT", "ms", "lower", "sample", 1000, 0, False, "cold_ttft_ms"),
        Metric("total_s", "total latency", "total", "s", "lower", "sample", 1, 2, True),
        Metric("output_tokens", "output tokens", "tokens", "", None, "sample", 1, 0),
        Metric("decode_tokens_per_s", "decode tokens/s", "decode", "tok/s", "higher", "sample", 1, 1, True, heading="tok/s"),
        Metric("itl_p50_s", "inter-token latency p50", "ITL p50", "ms", "lower", "sample", 1000, 1, True, "itl_p50_ms"),
        Metric("itl_p95_s", "inter-token latency p95", "ITL p95", "ms", "lower", "sample", 1000, 1, False, "itl_p95_ms"),
        Metric("ready_seconds", "time to ready", "ready", "s", "lower", "model", 1, 1, False, "ready_s"),
        Metric("load_seconds", "load time", "load", "s", "lower", "model", 1, 1, False, "load_s"),
        Metric("rss_after_load_bytes", "RSS after load", "RSS after load", "MB", "lower", "model", 1 / MIB, 0, False, "rss_after_load_mb"),
        Metric("peak_rss_bytes", "peak RSS", "peak RSS", "MB", "lower", "model", 1 / MIB, 0, True, "peak_rss_mb", "peak MB"),
        Metric("cpu_seconds", "CPU time", "CPU", "s", "lower", "model", 1, 1, False, "cpu_s"),
        Metric("gpu_memory_after_load_bytes", "GPU memory after load", "GPU after load", "MB", "lower", "model", 1 / MIB, 0, False, "gpu_memory_after_load_mb"),
        Metric("peak_gpu_memory_bytes", "peak GPU memory", "peak GPU", "MB", "lower", "model", 1 / MIB, 0, True, "peak_gpu_memory_mb", "GPU MB"),
        Metric("gpu_utilization_percent", "GPU utilisation (median)", "GPU util", "%", None, "model", 1, 0, False),
        Metric("mean_power_watts", "mean power", "power", "W", "lower", "model", 1, 0, False, "mean_power_w"),
        Metric("joules_per_token", "energy per output token", "energy", "J/tok", "lower", "model", 1, 3, True, heading="J/tok"),
        Metric("check_pass_rate", "check pass rate", "check pass rate", "%", "higher", "prompt", 100, 0, True),
        Metric("human_score", "human score (1-5)", "human score", "", "higher", "prompt", 1, 2, True),
        Metric("judge_score", "judge score (1-5)", "judge score", "", "higher", "prompt", 1, 2, True),
    )
}

SAMPLE_METRICS = tuple(k for k, m in METRICS.items() if m.per == "sample")  # a prompt's statistics
TIMING_METRICS = tuple(k for k in SAMPLE_METRICS if METRICS[k].compared)  # compared sample by sample
MODEL_METRICS = tuple(k for k, m in METRICS.items() if m.per == "model")  # one figure per model and run
GATED_METRICS = tuple(k for k, m in METRICS.items() if m.compared)  # what a gate may name


def change_text(change: float | None, kind: str, low: float | None = None, high: float | None = None) -> str:
    """A change as people read it: "+12.5%" with its interval "[+3%, +22%]" when given, or "-8 pt"
    for a difference of shares (pass rates)."""
    if change is None:
        return "-"
    if kind == "points":
        return f"{change * 100:+.0f} pt"
    interval = f" [{low:+.0%}, {high:+.0%}]" if low is not None and high is not None else ""
    return f"{change:+.1%}{interval}"

"""Showing a comparison (or a model switch) as text: warnings first and last, a row per figure."""

from __future__ import annotations

from .compare import BETTER, WORSE, Comparison, Row, Switch, recommendation, switch_recommendation

MIB = 1024**2
MARKS = {BETTER: "better", WORSE: "WORSE"}


FIGURES = {
    "ttft_s": lambda v: f"{v * 1000:.0f} ms",
    "total_s": lambda v: f"{v * 1000:.0f} ms",
    "itl_p50_s": lambda v: f"{v * 1000:.1f} ms",
    "decode_tokens_per_s": lambda v: f"{v:.1f}/s",
    "peak_rss_bytes": lambda v: f"{v / MIB:.0f} MB",
    "check_pass_rate": lambda v: f"{v:.0%}",
    "human_score": lambda v: f"{v:.2f}",
}


def _figure(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return FIGURES.get(metric, lambda v: f"{v:.2f}")(value)


def _change(row: Row) -> str:
    if row.change is None:
        return "-"
    if row.change_kind == "points":
        return f"{row.change * 100:+.0f} pt"
    text = f"{row.change:+.1%}"
    if row.low is not None:
        text += f" [{row.low:+.0%}, {row.high:+.0%}]"
    return text


def _gate(row: Row) -> str:
    if row.gate is None:
        return ""
    return {True: "ok", False: "FAIL", None: "n/a"}[row.gate.passed]


def warning_lines(warnings: list[str], like_for_like: bool) -> list[str]:
    if not warnings:
        return []
    banner = (
        "!! NOT LIKE FOR LIKE: timing and memory differences may come from the machine or runtime"
        if not like_for_like
        else "!! note"
    )
    return [banner, *(f"!! {w}" for w in warnings)]


def comparison_lines(comparison: Comparison, *, changes_only: bool = False) -> list[str]:
    """The whole comparison; with `changes_only`, model-level rows plus prompts that changed or failed a gate."""
    lines = [f"baseline {comparison.baseline_run}  ->  candidate {comparison.candidate_run}"]
    lines += warning_lines(comparison.warnings, comparison.like_for_like)
    header = f"  {'metric':<26} {'baseline':>9} {'candidate':>9}  {'change [95% interval]':<24} {'verdict':<20} gate"
    current = None
    for row in comparison.rows:
        if changes_only and row.prompt is not None and row.verdict in ("no detectable change", "not compared") and not row.gate_failed:
            continue
        group = (row.model, row.runtime, row.prompt)
        if group != current:
            current = group
            scope = row.prompt or "all prompts (timings: geometric mean of the prompts' medians)"
            lines += ["", f"{row.model} ({row.runtime}), {scope}", header]
        lines.append(
            f"  {row.label:<26} {_figure(row.metric, row.baseline):>9} {_figure(row.metric, row.candidate):>9}  "
            f"{_change(row):<24} {MARKS.get(row.verdict, row.verdict):<20} {_gate(row)}"
        )
    if comparison.notes:
        lines += ["", "not compared:", *(f"  {note}" for note in comparison.notes)]
    failures = comparison.model_failures + [_failure(row) for row in comparison.failed_gates()]
    if failures:
        lines += ["", "gates failed:", *(f"  {f}" for f in failures)]
    if not comparison.like_for_like:
        lines += [""] + warning_lines(comparison.warnings, comparison.like_for_like)
    return lines + ["", recommendation(comparison)]


def _failure(row: Row) -> str:
    scope = f", {row.prompt}" if row.prompt else ""
    return f"{row.model} ({row.runtime}){scope}: {row.label}: {row.gate.reason}"


def switch_lines(switch: Switch) -> list[str]:
    lines = [f"switch from {switch.from_model} (baseline) to {switch.to_model} (candidate)"]
    body = comparison_lines(switch.comparison)[1:-1]  # without the run ids and the run recommendation
    while body and not body[-1]:
        body.pop()
    lines += body
    if switch.checked:
        lines += ["", "held:", *(f"  {c}" for c in switch.checked)]
    if switch.reasons:
        lines += ["", "against the switch:", *(f"  {r}" for r in switch.reasons)]
    return lines + ["", switch_recommendation(switch)]

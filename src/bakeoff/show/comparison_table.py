"""Showing a comparison (or a model switch) as text: warnings first and last, a row per figure."""

from __future__ import annotations

import textwrap

from bakeoff.decide.compare import (
    BETTER,
    NOT_COMPARED,
    SAME,
    WORSE,
    Comparison,
    Row,
    Switch,
    recommendation,
    switch_recommendation,
)
from bakeoff.decide.metrics import METRICS

WIDTH = 80  # an 80-column CI log
MARKS = {BETTER: "better", WORSE: "WORSE", SAME: "no change", NOT_COMPARED: "not compared"}


def _gate(row: Row) -> str:
    if row.gate is None:
        return ""
    return {True: "ok", False: "FAIL", None: "n/a"}[row.gate.passed]


def _wrap(text: str, indent: str = "") -> list[str]:
    hanging = indent + "  " if indent else ""  # list items hang under their first line; prose does not
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=hanging, break_on_hyphens=False) or [""]


def _wrapped(lines: list[str]) -> list[str]:
    """Every line within WIDTH, continuation lines indented under their first."""
    out = []
    for line in lines:
        indent = line[: len(line) - len(line.lstrip())]
        out += [line] if len(line) <= WIDTH else _wrap(line.strip(), indent)
    return out


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
    header = f"  {'metric':<15} {'baseline':>9} {'candidate':>9}  {'change [95% int.]':<19} {'verdict':<12} gate"
    current = None
    for row in comparison.rows:
        if changes_only and row.prompt is not None and row.verdict in ("no detectable change", "not compared") and not row.gate_failed:
            continue
        group = (row.model, row.runtime, row.prompt)
        if group != current:
            current = group
            scope = row.prompt or "all prompts (timings: geometric mean of the prompts' medians)"
            lines += ["", f"{row.who}, {scope}", header]
        metric = METRICS[row.metric]
        lines.append(
            f"  {metric.short:<15} {metric.figure(row.baseline):>9} "
            f"{metric.figure(row.candidate):>9}  {row.change_text():<19} {MARKS.get(row.verdict, row.verdict):<12} {_gate(row)}"
        )
    if comparison.notes:
        lines += ["", "not compared:", *(f"  {note}" for note in comparison.notes)]
    failures = comparison.model_failures + [_failure(row) for row in comparison.failed_gates()]
    if failures:
        lines += ["", "gates failed:", *(f"  {f}" for f in failures)]
    if not comparison.like_for_like:
        lines += [""] + warning_lines(comparison.warnings, comparison.like_for_like)
    return _wrapped(lines + ["", recommendation(comparison)])


def _failure(row: Row) -> str:
    scope = f", {row.prompt}" if row.prompt else ""
    return f"{row.who}{scope}: {row.label}: {row.gate.reason}"


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
    return _wrapped(lines + ["", switch_recommendation(switch)])

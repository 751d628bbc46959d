"""Showing a comparison (or a model switch) as text: warnings first and last, a row per figure."""

from __future__ import annotations

import textwrap

from bakeoff.decide.compare import (
    BETTER,
    INCONCLUSIVE,
    NOT_COMPARED,
    SAME,
    WORSE,
    Comparison,
    Row,
    Switch,
    comparison_advice,
    switch_advice,
)
from bakeoff.decide.pairwise import ERROR, LOSS, TIE, WIN, PairwiseResult
from bakeoff.decide.stats import MOST_LAUNCHES
from bakeoff.metrics import METRICS, change_text

WIDTH = 80  # an 80-column CI log
MARKS = {
    BETTER: "better",
    WORSE: "WORSE",
    SAME: "no change",
    INCONCLUSIVE: "inconclusive",
    NOT_COMPARED: "not compared",
}


def _gate(row: Row) -> str:
    if row.gate is None:
        return ""
    if row.gate.inconclusive:  # "?": the statistics could not settle it; [tool.bakeoff] inconclusive decided
        return "FAIL?" if row.gate.passed is False else "ok?"
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


def comparison_lines(
    comparison: Comparison, *, changes_only: bool = False, detail: bool = False, advice: bool = True
) -> list[str]:
    """The whole comparison; with `changes_only`, model-level rows plus prompts that changed or
    failed a gate; with `detail`, where each timing figure's noise is (between launches or
    within one); without `advice`, no closing recommendation (a model switch has its own)."""
    lines = [f"baseline {comparison.baseline_run}  ->  candidate {comparison.candidate_run}"]
    lines += warning_lines(comparison.warnings, comparison.like_for_like)
    header = f"  {'metric':<15} {'baseline':>9} {'candidate':>9}  {'change [95% int.]':<19} {'verdict':<12} gate"
    current = None
    for row in comparison.rows:
        if (
            changes_only
            and row.prompt is not None
            and row.verdict in (SAME, INCONCLUSIVE, NOT_COMPARED)
            and not row.gate_failed
        ):
            continue
        group = (row.model, row.runtime, row.prompt)
        if group != current:
            current = group
            scope = row.prompt or "all prompts (timings: geometric mean of the prompts' medians)"
            lines += ["", f"{row.who}, {scope}", header]
        metric = METRICS[row.metric]
        lines.append(
            f"  {metric.short:<15} {metric.figure(row.baseline):>9} "
            f"{metric.figure(row.candidate):>9}  {row.change_text():<19} "
            f"{MARKS.get(row.verdict, row.verdict):<12} {_gate(row)}"
        )
    if detail:
        lines += noise_lines(comparison.rows)
    if comparison.notes:
        lines += ["", "not compared:", *(f"  {note}" for note in comparison.notes)]
    if comparison.agreement:
        lines += [
            "",
            "judge vs people (Krippendorff's ordinal alpha):",
            *(f"  {a['run']}: {a['text']}" for a in comparison.agreement),
        ]
    failures = comparison.model_failures + [_failure(row) for row in comparison.failed_gates()]
    if failures:
        lines += ["", "gates failed:", *(f"  {f}" for f in failures)]
    inconclusive = [_failure(row) for row in comparison.rows if row.gate and row.gate.inconclusive]
    if inconclusive:
        lines += [
            "",
            "gates the statistics could not settle ([tool.bakeoff] inconclusive decides):",
            *(f"  {i}" for i in inconclusive),
        ]
    if not comparison.like_for_like:
        lines += [""] + warning_lines(comparison.warnings, comparison.like_for_like)
    return _wrapped(lines + (["", comparison_advice(comparison)] if advice else []))


def noise_lines(rows: list[Row]) -> list[str]:
    """Per model-level timing figure, the variance components: where the noise is, and so where
    to repeat (Kalibera & Jones): more launches when launches differ, more repeats otherwise."""
    lines = ["", "where the noise is (model-wide timing figures; standard deviations, about relative):"]
    for row in rows:
        if row.prompt is not None or row.launches is None:
            continue
        launches = f"launches {row.launches[0]} vs {row.launches[1]}"
        within = f"within a launch {_sd(row.within_launch_sd)}"
        if row.between_launch_sd is None:
            lines.append(f"  {row.who} {row.label}: {launches}; {within}; between launches unknown (one launch a side)")
            continue
        between = f"between launches {_sd(row.between_launch_sd)}"
        settle = ""
        if row.launches_to_settle:
            settle = f"; about {row.launches_to_settle} launches a side would likely settle it"
        elif row.verdict == INCONCLUSIVE:
            settle = f"; more than {MOST_LAUNCHES} launches a side would be needed to settle it"
        lines.append(f"  {row.who} {row.label}: {launches}; {between}, {within}{settle}")
    return lines if len(lines) > 2 else []


def _sd(value: float | None) -> str:
    return "-" if value is None else f"+-{value:.1%}"


def _failure(row: Row) -> str:
    scope = f", {row.prompt}" if row.prompt else ""
    return f"{row.who}{scope}: {row.label}: {row.gate_failure}"


def switch_lines(switch: Switch) -> list[str]:
    lines = [f"switch from {switch.from_model} (baseline) to {switch.to_model} (candidate)"]
    lines += comparison_lines(switch.comparison, advice=False)[1:]  # without the run ids: a switch speaks of models
    if switch.checked:
        lines += ["", "held:", *(f"  {c}" for c in switch.checked)]
    if switch.reasons:
        lines += ["", "against the switch:", *(f"  {r}" for r in switch.reasons)]
    if switch.pairwise:
        lines += ["", *pairwise_lines(switch.pairwise, switch.to_model, switch.from_model)]
    return _wrapped(lines + ["", switch_advice(switch)])


def pairwise_lines(result: PairwiseResult, to_model: str, from_model: str) -> list[str]:
    """B's wins, ties and losses against A by the judge's preference, and how often the two
    orders of a pair disagreed (position bias: those pairs count as ties)."""
    share = result.disagreement_share
    bias = f"{share:.0%} of {result.judged_both_orders} pairs" if share is not None else "no pair judged in both orders"
    lines = [
        (
            f"pairwise, judged by {result.judge} in both orders: "
            f"{to_model} wins {result.count(WIN)}, ties {result.count(TIE)}, "
            f"loses {result.count(LOSS)} against {from_model}; judge errors {result.count(ERROR)}"
        ),
        f"  the orders disagreed (position bias, counted as ties) on {bias}",
    ]
    lines += [f"  note: {note}" for note in result.notes]
    lines += [f"  {v.prompt}: {v.outcome}: {v.detail}" for v in result.verdicts]
    return lines


def history_lines(found: list) -> list[str]:
    """Per model x runtime x metric (`bakeoff.decide.history.Series`): its values oldest first,
    then each change point with the run it starts at."""
    lines = []
    for series in found:
        metric = METRICS[series.metric]
        figures = " ".join(metric.number(v) for v in series.values)
        lines += ["", f"{series.model} ({series.runtime}) {metric.short} {metric.unit}".rstrip() + f": {figures}"]
        if not series.change_points:
            lines.append("  no change point")
        for point in series.change_points:
            kind = "points" if metric.unit == "%" else "relative"
            change = point.after - point.before if kind == "points" else point.change
            last = " (the last run)" if point.index == len(series.values) - 1 else ""
            lines.append(
                f"  change point at run {series.runs[point.index]}{last}: {metric.figure(point.before)} -> "
                f"{metric.figure(point.after)} ({change_text(change, kind)}, "
                f"{series.direction(point)}, p = {point.p_value:.2g})"
            )
    worse = [s for s in found if s.worse_at_last]
    verdict = (
        "The last run starts a new level, for the worse: "
        + "; ".join(f"{s.model} ({s.runtime}) {METRICS[s.metric].label}" for s in worse)
        + "."
        if worse
        else "The last run starts no new level for the worse."
    )
    return _wrapped([f"{len({r for s in found for r in s.runs})} runs, oldest first", *lines, "", verdict])


def history_page(found: list) -> str:
    """A self-contained HTML page: per series its chart, and the text `history_lines` prints."""
    from html import escape

    from bakeoff.show.charts import history_chart  # matplotlib loads only for --html

    charts = "\n".join(f"<section><h2>{escape(c.title)}</h2>{c.svg}</section>" for c in map(history_chart, found))
    text = escape("\n".join(history_lines(found)))
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>bakeoff history</title></head>'
        f"<body><h1>bakeoff history</h1>{charts}<pre>{text}</pre></body></html>\n"
    )

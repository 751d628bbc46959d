"""Showing a run in the terminal: the HTML report's comparison as text, within 80 columns.

One row per model (time to ready, TTFT, decode tokens/s, peak RSS, prompts passed), the check
outcomes as a prompt x model matrix, the models that did not run with why, and the same
recommendation as the HTML page.
"""

from __future__ import annotations

import textwrap

from bakeoff.decide.recommend import recommend
from bakeoff.report.ratings import CRITERIA, mean_scores
from bakeoff.show.summary import MIB, labels, model_key, prompt_ids, summarize_model

WIDTH = 80
FIGURES = f"{'status':<7} {'ready s':>7} {'TTFT ms':>7} {'tok/s':>6} {'peak MB':>7} {'passed':>7}"
CELL = 9  # narrowest matrix column: "FAIL 10/12"


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _wrap(text: str, **indents) -> list[str]:
    """Wrapped to 80 columns, never inside a model name (they have hyphens)."""
    return textwrap.wrap(text, WIDTH, break_on_hyphens=False, **indents)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def comparison_lines(report: dict) -> list[str]:
    models = report["models"]
    names = labels(models)
    name_width = min(max([len("model"), *(len(n) for n in names.values())]), WIDTH - len(FIGURES) - 1)
    header = f"{'model':<{name_width}} {FIGURES}"
    lines = [header, "-" * len(header)]
    notes = []
    for model in models:
        s = summarize_model(model)
        name = names[model_key(model)]
        lines.append(
            f"{_fit(name, name_width):<{name_width}} {s.status[:7]:<7} "
            f"{_fmt(s.ready_s, '{:.1f}'):>7} "
            f"{_fmt(s.ttft_s and s.ttft_s * 1000, '{:.0f}'):>7} "
            f"{_fmt(s.decode_tokens_per_s, '{:.1f}'):>6} "
            f"{_fmt(s.peak_rss_bytes and s.peak_rss_bytes / MIB, '{:.0f}'):>7} "
            f"{(f'{s.prompts_passed}/{s.prompts}' if s.prompts else '-'):>7}"
        )
        if s.status != "ran" and s.reason:
            named = s.reason if s.reason.startswith(model["name"]) else f"{name}: {s.reason}"
            notes.append(named)
    lines += check_matrix_lines(report)
    lines += ratings_lines(report)
    if notes:
        lines += ["", "not run:"]
        lines += [line for note in notes for line in _wrap(note, initial_indent="  ", subsequent_indent="    ")]
    lines += [""] + _wrap(recommend(report).text)
    return lines


def check_matrix_lines(report: dict) -> list[str]:
    """Prompts down, models across: each cell is the prompt's outcome and its checks passed.

    Models are named in the header when they all fit in 80 columns, else numbered with a key.
    """
    ran = [m for m in report["models"] if m["status"] == "ran" and m.get("prompts")]
    prompts = prompt_ids(report)
    if not ran or not prompts:
        return []
    names = [labels(report["models"])[model_key(m)] for m in ran]
    prompt_width = min(max(len("prompt"), *(len(p) for p in prompts)), 30)
    cell = max(CELL, *(len(n) for n in names))
    key = []
    if prompt_width + len(ran) * (cell + 1) > WIDTH:
        cell = CELL
        key = _wrap("models: " + ", ".join(f"{i} = {n}" for i, n in enumerate(names, start=1)), subsequent_indent="  ")
        names = [str(i) for i in range(1, len(ran) + 1)]
    per_block = (WIDTH - prompt_width) // (cell + 1)
    lines = []
    for start in range(0, len(ran), per_block):
        block = range(start, min(start + per_block, len(ran)))
        lines += ["", f"{'prompt':<{prompt_width}}" + "".join(f" {names[i]:>{cell}}" for i in block)]
        for pid in prompts:
            cells = "".join(f" {_cell(ran[i], pid):>{cell}}" for i in block)
            lines.append(f"{_fit(pid, prompt_width):<{prompt_width}}{cells}")
    return lines + key


def ratings_lines(report: dict) -> list[str]:
    """Mean human scores (1-5) per model, from `bakeoff rate`; nothing when no answer is rated."""
    rows = [(labels(report["models"])[model_key(m)], mean_scores(m)) for m in report["models"]]
    rows = [(name, means) for name, means in rows if means]
    if not rows:
        return []
    name_width = min(max(len("rated (mean 1-5)"), *(len(n) for n, _ in rows)), 28)
    lines = ["", f"{'rated (mean 1-5)':<{name_width}}" + "".join(f" {c:>12}" for c in CRITERIA) + f" {'answers':>8}"]
    for name, means in rows:
        lines.append(f"{_fit(name, name_width):<{name_width}}" + "".join(f" {means[c]:>12.1f}" for c in CRITERIA) + f" {means['answers']:>8}")
    return lines


def _cell(model: dict, prompt_id: str) -> str:
    record = next((p for p in model["prompts"] if p["id"] == prompt_id), None)
    if record is None:
        return "-"
    if record.get("error"):
        return "ERROR"
    checks = record.get("checks", [])
    passed = sum(bool(c.get("passed")) for c in checks)
    return f"{'ok' if record.get('passed') else 'FAIL'} {passed}/{len(checks)}"

"""Showing a run in the terminal: the HTML report's comparison as text, within 80 columns.

One row per model (time to ready, TTFT, decode tokens/s, peak RSS, prompts passed), the check
outcomes as a prompt x model matrix, the models that did not run with why, and the same
recommendation as the HTML page.
"""

from __future__ import annotations

import textwrap

from bakeoff.metrics import METRICS
from bakeoff.report.model import CRITERIA
from bakeoff.show.summary import OUTCOME_MARKS, RunView

WIDTH = 80
# The per-model columns: (metric, width); then the status before and the prompts passed after.
COLUMNS = (("ready_seconds", 7), ("ttft_s", 7), ("decode_tokens_per_s", 6), ("peak_rss_bytes", 7))
FIGURES = f"{'status':<7} " + " ".join(f"{METRICS[m].heading:>{w}}" for m, w in COLUMNS) + f" {'passed':>7}"
CELL = 9  # narrowest matrix column: "FAIL 10/12"


def _wrap(text: str, **indents) -> list[str]:
    """Wrapped to 80 columns, never inside a model name (they have hyphens)."""
    return textwrap.wrap(text, WIDTH, break_on_hyphens=False, **indents)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def run_lines(view: RunView) -> list[str]:
    """The run in 80 columns: a row per model, the check matrix, ratings, what did not run, the advice."""
    name_width = min(max([len("model"), *(len(m.label) for m in view.models)]), WIDTH - len(FIGURES) - 1)
    header = f"{'model':<{name_width}} {FIGURES}"
    lines = [header, "-" * len(header)]
    notes = []
    for model in view.models:
        record = model.record
        figures = " ".join(f"{METRICS[m].number(_figure_of(model, m)):>{w}}" for m, w in COLUMNS)
        lines.append(
            f"{_fit(model.label, name_width):<{name_width}} {record.status[:7]:<7} {figures} {model.passed:>7}"
        )
        if record.status != "ran" and record.reason:
            notes.append(record.reason if record.reason.startswith(record.name) else f"{model.label}: {record.reason}")
    lines += accelerator_lines(view)
    lines += check_matrix_lines(view)
    lines += ratings_lines(view)
    lines += judge_lines(view)
    if notes:
        lines += ["", "not run:"]
        lines += [line for note in notes for line in _wrap(note, initial_indent="  ", subsequent_indent="    ")]
    lines += [""] + _wrap(view.recommendation)
    return lines


# Where a model ran and what it drew: shown when a model of the run has a GPU or energy figure.
ACCELERATOR_COLUMNS = (
    ("peak_gpu_memory_bytes", 7),
    ("gpu_utilization_percent", 8),
    ("mean_power_watts", 7),
    ("joules_per_token", 7),
)


def accelerator_lines(view: RunView) -> list[str]:
    """Per model: the device that served it, the layers offloaded, peak GPU memory, utilisation,
    power and energy per output token; nothing when no model has any of them (no GPU, no sensor)."""
    shown = [
        m
        for m in view.models
        if m.record.device == "gpu" or any(getattr(m.record, k) is not None for k, _ in ACCELERATOR_COLUMNS)
    ]
    if not shown:
        return []
    name_width = min(max(len("model"), *(len(m.label) for m in view.models)), 30)
    header = f"{'model':<{name_width}} {'device':<6} {'layers':>7} " + " ".join(
        f"{METRICS[k].heading:>{w}}" for k, w in ACCELERATOR_COLUMNS
    )
    lines = ["", header, "-" * len(header)]
    for model in view.models:
        record = model.record
        figures = " ".join(f"{METRICS[k].number(getattr(record, k)):>{w}}" for k, w in ACCELERATOR_COLUMNS)
        lines.append(
            f"{_fit(model.label, name_width):<{name_width}} "
            f"{record.device or '-':<6} {record.gpu_layers or '-':>7} {figures}"
        )
    return lines


def _figure_of(model, metric: str) -> float | None:
    """A model's figure: its own for a per-model metric, its median over all samples otherwise."""
    return METRICS[metric].of(model.record) if METRICS[metric].per == "model" else model.medians[metric]


def check_matrix_lines(view: RunView) -> list[str]:
    """Prompts down, models across: each cell is the prompt's outcome and its checks passed.

    Models are named in the header when they all fit in 80 columns, else numbered with a key.
    """
    prompts, ran = view.prompt_ids, view.answered
    if not ran or not prompts:
        return []
    names = [m.label for m in ran]
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
            cells = "".join(f" {_cell(view, i, pid):>{cell}}" for i in block)
            lines.append(f"{_fit(pid, prompt_width):<{prompt_width}}{cells}")
    return lines + key


def ratings_lines(view: RunView) -> list[str]:
    """Mean human scores (1-5) per model, from `bakeoff rate`; nothing when no answer is rated."""
    rows = [(m.label, m.mean_scores) for m in view.models if m.mean_scores]
    if not rows:
        return []
    name_width = min(max(len("rated (mean 1-5)"), *(len(n) for n, _ in rows)), 28)
    lines = ["", f"{'rated (mean 1-5)':<{name_width}}" + "".join(f" {c:>12}" for c in CRITERIA) + f" {'answers':>8}"]
    for name, means in rows:
        lines.append(
            f"{_fit(name, name_width):<{name_width}}"
            + "".join(f" {means[c]:>12.1f}" for c in CRITERIA)
            + f" {means['answers']:>8}"
        )
    return lines


def judge_lines(view: RunView) -> list[str]:
    """Mean judge scores (1-5) per model, and how far the judge agrees with people; nothing
    when no answer was judged."""
    rows = [(m.label, m.judge_means) for m in view.models if m.judge_means]
    if not rows:
        return []
    criteria = list(dict.fromkeys(c for _, judged in rows for c in judged["means"]))
    title = "judged (mean 1-5)"
    name_width = min(max(len(title), *(len(n) for n, _ in rows)), 28)
    lines = ["", f"{title:<{name_width}}" + "".join(f" {_fit(c, 12):>12}" for c in criteria) + f" {'attempts':>8}"]
    notes = []
    for name, judged in rows:
        means = "".join(f" {judged['means'][c]:>12.1f}" if c in judged["means"] else f" {'-':>12}" for c in criteria)
        lines.append(f"{_fit(name, name_width):<{name_width}}{means} {judged['attempts']:>8}")
        if judged["errors"]:
            notes.append(f"{name}: {judged['errors']} judge error(s), counted as failed checks")
        if judged["self_judged"]:
            notes.append(
                f"{name}: {judged['self_judged']} attempt(s) graded by its own model ({', '.join(judged['judges'])})"
            )
    lines += [line for note in notes for line in _wrap(note, initial_indent="  ", subsequent_indent="    ")]
    if view.agreement:
        lines += _wrap("judge vs people (Krippendorff's ordinal alpha): " + "; ".join(a.text for a in view.agreement))
    return lines


def _cell(view: RunView, model_index: int, prompt_id: str) -> str:
    cell = view.cell(model_index, prompt_id)
    if cell is None:
        return "-"
    if cell.outcome == "error":
        return OUTCOME_MARKS["error"]
    return f"{OUTCOME_MARKS[cell.outcome]} {cell.checks}"

"""Showing a run as one self-contained HTML page: header, recommendation, charts, check matrix, answers.

The page loads nothing: styles are inline, charts are inline SVG, there is no script at all, and
a Content-Security-Policy forbids fetching anything but data: images. Model answers are untrusted
text; the template autoescapes everything, so an answer full of HTML shows as that text.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bakeoff.metrics import METRICS, change_text
from bakeoff.report.model import PromptResult
from bakeoff.report.store import atomic_write
from bakeoff.show.charts import model_charts
from bakeoff.show.summary import (
    ModelView,
    RunView,
    describe_judge,
    describe_rating,
    describe_ratings,
    median_figure,
)

LATEST_HTML = "latest.html"

# The per-model figures of the models table, and how fields of a prompt record beyond those the
# page shows in their own place are named (any other field is listed as it is: nothing recorded
# goes unseen).
MODEL_COLUMNS = ("ready_seconds", "load_seconds", "rss_after_load_bytes", "peak_rss_bytes", "cpu_seconds")
# Shown after those where a model of the run has the figure (a GPU, a power sensor).
ACCELERATOR_COLUMNS = (
    "gpu_memory_after_load_bytes",
    "peak_gpu_memory_bytes",
    "gpu_utilization_percent",
    "mean_power_watts",
    "joules_per_token",
)
FIELD_LABELS = {"attempt_pass_rate": "attempts passing every check", "pass_k": "pass^k"}

_environment = Environment(
    loader=PackageLoader("bakeoff.show", "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def write_html(view: RunView, reports_dir: Path, comparison: dict | None = None) -> Path:
    """Write `<run-id>.html` beside the JSON and the same page as `latest.html`."""
    text = render_html(view, comparison)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"{view.report.run_id}.html"
    atomic_write(path, text)
    atomic_write(reports_dir / LATEST_HTML, text)
    return path


def save_html(view: RunView, path: Path, comparison: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render_html(view, comparison))
    return path


def render_html(view: RunView, comparison: dict | None = None) -> str:
    """The page for a run; `comparison` is `Comparison.to_dict()` against a baseline, if any."""
    report = view.report
    return _environment.get_template("report.html.j2").render(
        report=report,
        environment=report.environment,
        runtimes=view.runtimes,
        recommendation=view.recommendation,
        charts=model_charts(view.answered),
        accelerator=accelerator_text(report.environment),
        model_columns=[f"{METRICS[k].label} {METRICS[k].unit}" for k in model_columns(view)],
        models=[_model_row(m, model_columns(view), _devices_shown(view)) for m in view.models],
        noise=[row for m in view.answered for row in _noise_rows(m)],
        matrix=_matrix(view),
        answers=[_answer(view, i, p.id) for i, m in enumerate(view.answered) for p in m.record.prompts],
        comparison=_comparison(comparison) if comparison else None,
        agreement=[a.text for a in view.agreement],
    )


def model_columns(view: RunView) -> tuple[str, ...]:
    return MODEL_COLUMNS + tuple(
        k for k in ACCELERATOR_COLUMNS if any(METRICS[k].of(m.record) is not None for m in view.models)
    )


def _devices_shown(view: RunView) -> bool:
    """The device beside the runtime where a model of the run ran on a GPU (else all ran on the CPU)."""
    return any(m.record.device == "gpu" for m in view.models)


def accelerator_text(environment) -> str:
    """The environment's GPUs in one line, or why there are none; older reports did not look."""
    if environment.accelerators:
        return "; ".join(
            f"{a.name} ({a.memory_bytes / 1e9:.0f} GB, driver {a.driver}, CUDA {a.cuda_version})"
            for a in environment.accelerators
        )
    return environment.accelerator_note or "not recorded"


def _model_row(model: ModelView, columns: tuple[str, ...], devices_shown: bool) -> dict:
    record = model.record
    device = (
        f" on the {record.device.upper()}" + (f" ({record.gpu_layers} layers)" if record.gpu_layers else "")
        if devices_shown and record.device
        else ""
    )
    return {
        "label": model.label,
        "runtime": model.runtime + device,
        "status": record.status,
        "reason": model.reason,
        "figures": [METRICS[k].number(METRICS[k].of(record), "–") for k in columns],
        "passed": model.passed.replace("-", "–"),
        "ratings": describe_ratings(model.ratings),
        "judged": _judged(model.judge_means),
    }


def _noise_rows(model: ModelView) -> list[dict]:
    """Where a model's timing noise is in this run: between launches or within one (Kalibera & Jones:
    repeat at the level where it is largest)."""
    return [
        {
            "model": model.label,
            "figure": METRICS[metric].label,
            "launches": noise.launches,
            "between": _spread(noise.between_sd, "one launch" if noise.launches < 2 else "–"),
            "within": _spread(noise.within_sd, "–"),
            "larger": "between" if (noise.between_sd or 0) > (noise.within_sd or 0) else "within",
        }
        for metric, noise in model.noise.items()
    ]


def _spread(sd: float | None, missing: str) -> str:
    """A standard deviation on the log scale, about relative: "±3.1%"."""
    return missing if sd is None else f"±{sd:.1%}"


def _percentiles(prompt: PromptResult, metric: str) -> str:
    """A prompt's median, p90 and p99 with their 95% intervals: "median 255 ms [250 ms, 262 ms]"."""
    stat = prompt.stats.get(metric)
    if stat is None or not stat.intervals:
        return ""
    shown = METRICS[metric]
    parts = []
    for name, value in (("median", stat.median), ("p90", stat.p90), ("p99", stat.p99)):
        low, high = stat.intervals.get(name, (None, None))
        if value is not None:
            parts.append(f"{name} {shown.figure(value)} [{shown.figure(low, '…')}, {shown.figure(high, '…')}]")
    return f"{shown.label}: " + ", ".join(parts)


def _judged(judged: dict | None) -> str:
    """A model's mean judge scores: "accuracy 4.2, clarity 4.0 (6 attempts; 1 judge error)"."""
    if not judged:
        return ""
    means = ", ".join(f"{c} {v:.1f}" for c, v in judged["means"].items())
    notes = [f"{judged['attempts']} attempts"]
    notes += [f"{judged['errors']} judge errors"] if judged["errors"] else []
    notes += [f"{judged['self_judged']} graded by its own model"] if judged["self_judged"] else []
    return f"{means} ({'; '.join(notes)})"


def _matrix(view: RunView) -> dict:
    """Columns are models, rows are prompts; each cell links to its answers."""
    rows = []
    for pid in view.prompt_ids:
        cells = []
        for index in range(len(view.answered)):
            cell = view.cell(index, pid)
            cells.append(
                cell
                and {
                    "outcome": cell.outcome,
                    "checks": cell.checks,
                    "href": "#" + cell.anchor,
                    "title": "failed: " + "; ".join(cell.failed_checks)
                    if cell.failed_checks
                    else (cell.prompt.error or "all checks passed"),
                }
            )
        rows.append({"prompt": pid, "text": view.prompt_text(pid), "cells": cells})
    return {"models": [m.label for m in view.answered], "rows": rows}


def _answer(view: RunView, model_index: int, prompt_id: str) -> dict:
    """A model's answers to one prompt, identical answers (greedy decoding repeats itself) shown once."""
    cell = view.cell(model_index, prompt_id)
    if cell is None:  # asked only for the prompts the model's record holds
        raise ValueError(f"{view.answered[model_index].label} has no record of prompt {prompt_id!r}")
    prompt = cell.prompt
    groups: dict[str, dict] = {}
    for index, sample in enumerate(prompt.samples):
        group = groups.setdefault(
            sample.response, {"response": sample.response, "samples": [], "checks": sample.checks}
        )
        group["samples"].append(index)
    for group in groups.values():  # a rating covers the attempts (0-based) that gave one answer
        group["ratings"] = [describe_rating(r) for r in prompt.ratings if set(r.samples) & set(group["samples"])]
        judge = prompt.samples[group["samples"][0]].judge
        group["judge"] = describe_judge(judge) if judge else ""
        group["samples"] = [index + 1 for index in group["samples"]]
    extras = {k: v for k, v in prompt.model_dump(include=set(FIELD_LABELS)).items() if v is not None} | prompt.extras
    return {
        "anchor": cell.anchor,
        "model": view.answered[model_index].label,
        "prompt": prompt,
        "outcome": cell.outcome,
        "groups": list(groups.values()),
        "ttft": median_figure(prompt, "ttft_s", "–"),
        "decode": median_figure(prompt, "decode_tokens_per_s", "–"),
        "percentiles": [text for metric in ("ttft_s", "decode_tokens_per_s") if (text := _percentiles(prompt, metric))],
        "extras": [
            f"{FIELD_LABELS.get(k, k)} {_scalar(v)}"
            for k, v in extras.items()
            if isinstance(v, (str, int, float, bool))
        ],
    }


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.0%}" if 0 <= value <= 1 else f"{value:.2f}"
    return str(value)


# --- Against a baseline: `Comparison.to_dict()` from bakeoff.decide.compare, shown as it is -----

VERDICT_CLASS = {"better": "better", "worse": "worse"}


def _row_noise(row: dict) -> str:
    """A timing row's variance components over both runs: "±2.1% / ±0.8%" (between / within launches)."""
    if row.get("launches") is None:
        return ""
    return f"{_spread(row.get('between_launch_sd'), 'unknown')} / {_spread(row.get('within_launch_sd'), '–')}"


def _comparison(data: dict) -> dict:
    rows = [_comparison_row(r) for r in data.get("rows", [])]
    return {
        "baseline_run": data.get("baseline_run", ""),
        "candidate_run": data.get("candidate_run", ""),
        "failed": bool(data.get("failed")),
        "like_for_like": data.get("like_for_like", True),
        "warnings": data.get("warnings", []),
        "notes": data.get("notes", []),
        "model_failures": data.get("model_failures", []),
        "recommendation": data.get("recommendation", ""),
        "model_rows": [r for r in rows if not r["prompt"]],
        "prompt_rows": [r for r in rows if r["prompt"]],
    }


def _comparison_row(row: dict) -> dict:
    metric = METRICS[row["metric"]]
    gate = row.get("gate") or {}
    return {
        "model": f"{row.get('model')} ({row.get('runtime')})",
        "prompt": row.get("prompt"),
        "label": row.get("label", metric.label),
        "baseline": metric.figure(row.get("baseline"), "–"),  # as the terminal shows it
        "candidate": metric.figure(row.get("candidate"), "–"),
        "change": "–"
        if row.get("change") is None
        else change_text(row["change"], row["change_kind"], row.get("low"), row.get("high")),
        "verdict": row.get("verdict", ""),
        "verdict_class": VERDICT_CLASS.get(row.get("verdict", ""), "same"),
        "gate": ({True: "ok", False: "FAIL", None: ""}[gate.get("passed")] + ("?" if gate.get("inconclusive") else ""))
        if gate
        else "",
        "gate_reason": gate.get("reason") or "",
        "noise": _row_noise(row),
        "note": row.get("note") or "",
    }

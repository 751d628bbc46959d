"""Showing a run as one self-contained HTML page: header, recommendation, charts, check matrix, answers.

The page loads nothing: styles are inline, charts are inline SVG, there is no script at all, and
a Content-Security-Policy forbids fetching anything but data: images. Model answers are untrusted
text; the template autoescapes everything, so an answer full of HTML shows as that text.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bakeoff.decide.recommend import recommend
from bakeoff.report.store import _atomic_write
from bakeoff.show.charts import model_charts
from bakeoff.show.comparison_table import FIGURES
from bakeoff.show.summary import (
    MIB,
    describe_rating,
    describe_ratings,
    labels,
    model_key,
    prompt_ids,
    prompt_median,
)

LATEST_HTML = "latest.html"

# Fields of a prompt record this page shows in their own place; any other scalar field (added
# by a later report version, e.g. pass^k) is listed as it is, so nothing recorded goes unseen.
PROMPT_FIELDS = {"id", "text", "messages", "repeats", "min_pass_rate", "passed", "error", "stats", "checks", "samples", "ratings"}
FIELD_LABELS = {"attempt_pass_rate": "attempts passing every check", "pass_k": "pass^k"}

_environment = Environment(
    loader=PackageLoader("bakeoff.show", "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def write_html(report: dict, reports_dir: Path, comparison: dict | None = None) -> Path:
    """Write `<run-id>.html` beside the JSON and the same page as `latest.html`."""
    text = render_html(report, comparison)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"{report['run_id']}.html"
    _atomic_write(path, text)
    _atomic_write(reports_dir / LATEST_HTML, text)
    return path


def save_html(report: dict, path: Path, comparison: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, render_html(report, comparison))
    return path


def render_html(report: dict, comparison: dict | None = None) -> str:
    """The page for `report`; `comparison` is `Comparison.to_dict()` against a baseline, if any."""
    models = report["models"]
    names = labels(models)
    ran = [m for m in models if m["status"] == "ran" and m.get("prompts")]
    prompts = prompt_ids(report)
    return _environment.get_template("report.html.j2").render(
        report=report,
        environment=report["environment"],
        runtimes=_runtimes(report),
        recommendation=recommend(report).text,
        charts=model_charts(ran, [names[model_key(m)] for m in ran]),
        models=[_model_row(m, names[model_key(m)]) for m in models],
        matrix=_matrix(ran, names, prompts),
        answers=[_answer(i, m, names[model_key(m)], p) for i, m in enumerate(ran) for p in m["prompts"]],
        comparison=_comparison(comparison) if comparison else None,
    )


def _runtimes(report: dict) -> list[str]:
    found = {name: version for name, version in report["environment"].get("runtimes", {}).items()}
    for model in report["models"]:
        if model.get("runtime_version") and not any(model["runtime"] in name for name in found):
            found[model["runtime"]] = model["runtime_version"]
    return [f"{name} {version}" for name, version in sorted(found.items())]


def _prompt_text(models: list[dict], prompt_id: str) -> str:
    return next(p.get("text", "") for m in models for p in m.get("prompts", []) if p["id"] == prompt_id)


def _figure(value, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    return "–" if value is None else fmt.format(value / scale)


def _model_row(model: dict, label: str) -> dict:
    prompts = model.get("prompts", [])
    return {
        "label": label,
        "runtime": model.get("runtime", ""),
        "runtime_version": model.get("runtime_version") or "",
        "status": model["status"],
        # Reasons start with the model's name for pytest's own output; the page names it already.
        "reason": (model.get("reason") or "").removeprefix(f"{model['name']}: "),
        "ready": _figure(model.get("ready_seconds")),
        "load": _figure(model.get("load_seconds")),
        "rss_after_load": _figure(model.get("rss_after_load_bytes"), MIB, "{:.0f}"),
        "peak_rss": _figure(model.get("peak_rss_bytes"), MIB, "{:.0f}"),
        "cpu": _figure(model.get("cpu_seconds")),
        "passed": f"{sum(bool(p.get('passed')) for p in prompts)}/{len(prompts)}" if prompts else "–",
        "ratings": describe_ratings([r for p in prompts for r in p.get("ratings") or []]),
    }


def _anchor(model_index: int, prompt_id: str) -> str:
    return f"answer-{model_index}-{prompt_id}"


def _outcome(prompt: dict) -> str:
    if prompt.get("error"):
        return "error"
    return "pass" if prompt.get("passed") else "fail"


def _matrix(ran: list[dict], names: dict, prompt_order: list[str]) -> dict:
    """Columns are models, rows are prompts; each cell links to its answers."""
    rows = []
    for pid in prompt_order:
        cells = []
        for index, model in enumerate(ran):
            record = next((p for p in model["prompts"] if p["id"] == pid), None)
            if record is None:
                cells.append(None)
                continue
            checks = record.get("checks", [])
            failed = [c["check"] for c in checks if not c.get("passed")]
            cells.append(
                {
                    "outcome": _outcome(record),
                    "checks": f"{len(checks) - len(failed)}/{len(checks)}",
                    "href": "#" + _anchor(index, pid),
                    "title": "failed: " + "; ".join(failed) if failed else (record.get("error") or "all checks passed"),
                }
            )
        rows.append({"prompt": pid, "text": _prompt_text(ran, pid), "cells": cells})
    return {"models": [names[model_key(m)] for m in ran], "rows": rows}


def _answer(model_index: int, model: dict, label: str, prompt: dict) -> dict:
    """A model's answers to one prompt, identical answers (greedy decoding repeats itself) shown once."""
    groups: dict[str, dict] = {}
    for index, sample in enumerate(prompt.get("samples", [])):
        group = groups.setdefault(sample["response"], {"response": sample["response"], "samples": [], "checks": sample.get("checks", [])})
        group["samples"].append(index)
    ratings = prompt.get("ratings") or []
    for group in groups.values():  # a rating covers the attempts (0-based) that gave one answer
        group["ratings"] = [describe_rating(r) for r in ratings if set(r.get("samples", [])) & set(group["samples"])]
        group["samples"] = [index + 1 for index in group["samples"]]
    return {
        "anchor": _anchor(model_index, prompt["id"]),
        "model": label,
        "prompt": prompt,
        "outcome": _outcome(prompt),
        "checks": prompt.get("checks", []),
        "groups": list(groups.values()),
        "ttft": _figure(prompt_median(prompt, "ttft_s"), 0.001, "{:.0f} ms"),
        "decode": _figure(prompt_median(prompt, "decode_tokens_per_s"), 1, "{:.1f} tokens/s"),
        "ratings": [describe_rating(r) for r in ratings if not r.get("samples")],
        "messages": prompt.get("messages") or [{"role": "user", "content": prompt["text"]}],
        "extras": [
            f"{FIELD_LABELS.get(k, k)} {_scalar(v)}"
            for k, v in prompt.items()
            if k not in PROMPT_FIELDS and isinstance(v, (str, int, float, bool))
        ],
    }


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.0%}" if 0 <= value <= 1 else f"{value:.2f}"
    return str(value)


# --- Against a baseline: `Comparison.to_dict()` from bakeoff.compare, shown as it is ----------

VERDICT_CLASS = {"better": "better", "worse": "worse"}


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
    metric = row.get("metric", "")
    gate = row.get("gate") or {}
    return {
        "model": f"{row.get('model')} ({row.get('runtime')})",
        "prompt": row.get("prompt"),
        "label": row.get("label", metric),
        "baseline": _metric_figure(metric, row.get("baseline")),
        "candidate": _metric_figure(metric, row.get("candidate")),
        "change": _change(row),
        "verdict": row.get("verdict", ""),
        "verdict_class": VERDICT_CLASS.get(row.get("verdict"), "same"),
        "gate": {True: "ok", False: "FAIL", None: ""}[gate.get("passed")] if gate else "",
        "gate_reason": gate.get("reason") or "",
        "note": row.get("note") or "",
    }


def _metric_figure(metric: str, value) -> str:
    return "–" if value is None else FIGURES.get(metric, "{:.2f}".format)(value)  # as the terminal shows it


def _change(row: dict) -> str:
    change = row.get("change")
    if change is None:
        return "–"
    if row.get("change_kind") == "points":
        return f"{change * 100:+.0f} points"
    text = f"{change:+.1%}"
    if row.get("low") is not None and row.get("high") is not None:
        text += f" [{row['low']:+.0%}, {row['high']:+.0%}]"
    return text

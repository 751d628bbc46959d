"""Showing a run as CSV for spreadsheets: one row per model x prompt (a model that did not run gets
one row with its reason), with the metrics, check outcomes, ratings and the answer.

Answers are untrusted text: a cell that a spreadsheet would read as a formula (starting with
=, +, -, @ or a control character) is prefixed with an apostrophe, so it shows as text.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bakeoff.show.summary import MIB, describe_ratings, labels, model_key, prompt_median

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = [
    "run_id", "model", "runtime", "model_status", "model_reason", "ready_s", "peak_rss_mb",
    "prompt", "passed", "error", "repeats", "ttft_ms_median", "total_s_median", "decode_tokens_per_s_median",
    "itl_p50_ms_median", "output_tokens_median", "checks_passed", "checks_total", "checks", "ratings",
    "distinct_answers", "answer",
]
KNOWN_PROMPT_FIELDS = {"id", "text", "repeats", "min_pass_rate", "passed", "error", "stats", "checks", "samples", "ratings"}


def write_csv(report: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_csv(report), encoding="utf-8-sig")  # the BOM tells Excel it is UTF-8
    return path


def render_csv(report: dict) -> str:
    extras = _extra_columns(report)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS[:-1] + extras + COLUMNS[-1:], lineterminator="\n")
    writer.writeheader()
    names = labels(report["models"])
    for model in report["models"]:
        base = {
            "run_id": report["run_id"],
            "model": names[model_key(model)],
            "runtime": model.get("runtime", ""),
            "model_status": model["status"],
            "model_reason": model.get("reason") or "",
            "ready_s": _round(model.get("ready_seconds"), 2),
            "peak_rss_mb": _round(model.get("peak_rss_bytes") and model["peak_rss_bytes"] / MIB, 0),
        }
        prompts = model.get("prompts", [])
        if not prompts:
            writer.writerow(_safe(base))
        for prompt in prompts:
            writer.writerow(_safe({**base, **_prompt_columns(prompt), **{k: prompt.get(k, "") for k in extras}}))
    return buffer.getvalue()


def _prompt_columns(prompt: dict) -> dict:
    checks = prompt.get("checks", [])
    answers = [s["response"] for s in prompt.get("samples", [])]
    return {
        "prompt": prompt["id"],
        "passed": prompt.get("passed"),
        "error": prompt.get("error") or "",
        "repeats": prompt.get("repeats"),
        "ttft_ms_median": _round(prompt_median(prompt, "ttft_s"), 0, 1000),
        "total_s_median": _round(prompt_median(prompt, "total_s"), 3),
        "decode_tokens_per_s_median": _round(prompt_median(prompt, "decode_tokens_per_s"), 1),
        "itl_p50_ms_median": _round(prompt_median(prompt, "itl_p50_s"), 1, 1000),
        "output_tokens_median": prompt_median(prompt, "output_tokens"),
        "checks_passed": sum(bool(c.get("passed")) for c in checks),
        "checks_total": len(checks),
        "checks": "; ".join(f"{c['check']}: {'pass' if c.get('passed') else 'FAIL'} {c.get('pass_rate', 0):.0%}" for c in checks),
        "ratings": describe_ratings(prompt.get("ratings") or []),
        "distinct_answers": len(set(answers)),
        "answer": answers[0] if answers else "",
    }


def _extra_columns(report: dict) -> list[str]:
    """Scalar prompt fields this module does not know (a later report version's), kept as columns."""
    found = {
        key
        for model in report["models"]
        for prompt in model.get("prompts", [])
        for key, value in prompt.items()
        if key not in KNOWN_PROMPT_FIELDS and isinstance(value, (str, int, float, bool))
    }
    return sorted(found - set(COLUMNS))


def _round(value, digits: int, scale: float = 1):
    return None if value is None else round(value * scale, digits) if digits else round(value * scale)


def _safe(row: dict) -> dict:
    return {k: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for k, v in row.items()}

"""Showing a run as CSV for spreadsheets: one row per model x prompt (a model that did not run gets
one row with its reason), with the metrics, check outcomes, ratings, the judge's grades and the answer.

Answers are untrusted text: a cell that a spreadsheet would read as a formula (starting with
=, +, -, @ or a control character, also after leading spaces or tabs, which spreadsheets skip) is
prefixed with an apostrophe, so it shows as text.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bakeoff.metrics import METRICS
from bakeoff.report.model import PromptResult
from bakeoff.show.summary import RunView, describe_judge, describe_ratings

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Skipped by spreadsheets before they look for a formula: spaces, tabs and other blanks.
LEADING_BLANKS = " \t\r\n\x0b\x0c\u00a0\u3000"
FULLWIDTH_STARTS = ("\uff1d", "\uff0b", "\uff0d", "\uff20")  # ＝ ＋ － ＠

MODEL_FIGURES = ("ready_seconds", "peak_rss_bytes", "peak_gpu_memory_bytes", "joules_per_token")  # per model
MEDIANS = ("ttft_s", "total_s", "decode_tokens_per_s", "itl_p50_s", "output_tokens")  # per prompt, over its samples
COLUMNS = [
    "run_id",
    "model",
    "runtime",
    "device",
    "model_status",
    "model_reason",
    *(METRICS[k].column for k in MODEL_FIGURES),
    "prompt",
    "passed",
    "error",
    "repeats",
    *(f"{METRICS[k].column}_median" for k in MEDIANS),
    "checks_passed",
    "checks_total",
    "checks",
    "ratings",
    "judge_score",
    "judge",
    "distinct_answers",
    "answer",
]
KNOWN_PROMPT_FIELDS = {
    "id",
    "text",
    "repeats",
    "min_pass_rate",
    "passed",
    "error",
    "stats",
    "checks",
    "samples",
    "ratings",
}


def write_csv(view: RunView, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_csv(view), encoding="utf-8-sig")  # the BOM tells Excel it is UTF-8
    return path


def render_csv(view: RunView) -> str:
    extras = _extra_columns(view)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS[:-1] + extras + COLUMNS[-1:], lineterminator="\n")
    writer.writeheader()
    for model in view.models:
        record = model.record
        base = {
            "run_id": view.report.run_id,
            "model": model.label,
            "runtime": record.runtime,
            "device": record.device or "",
            "model_status": record.status,
            "model_reason": record.reason or "",
            **{METRICS[k].column: METRICS[k].shown(METRICS[k].of(record)) for k in MODEL_FIGURES},
        }
        if not record.prompts:
            writer.writerow(_safe(base))
        for prompt in record.prompts:
            fields = _scalars(prompt)
            writer.writerow(_safe({**base, **_prompt_columns(prompt), **{k: fields.get(k, "") for k in extras}}))
    return buffer.getvalue()


def _prompt_columns(prompt: PromptResult) -> dict:
    checks = prompt.checks
    answers = [s.response for s in prompt.samples]
    return {
        "prompt": prompt.id,
        "passed": prompt.passed,
        "error": prompt.error or "",
        "repeats": prompt.repeats,
        **{f"{METRICS[k].column}_median": METRICS[k].shown(METRICS[k].median(prompt.samples)) for k in MEDIANS},
        "checks_passed": sum(c.passed for c in checks),
        "checks_total": len(checks),
        "checks": "; ".join(f"{c.check}: {'pass' if c.passed else 'FAIL'} {c.pass_rate:.0%}" for c in checks),
        "ratings": describe_ratings(prompt.ratings),
        "judge_score": METRICS["judge_score"].shown(prompt.judge_score),
        "judge": describe_judge(prompt.samples[0].judge) if prompt.samples and prompt.samples[0].judge else "",
        "distinct_answers": len(set(answers)),
        "answer": answers[0] if answers else "",
    }


def _scalars(prompt: PromptResult) -> dict:
    """The prompt record's fields that hold one value (not a list, a table or null)."""
    return {k: v for k, v in prompt.model_dump().items() if isinstance(v, (str, int, float, bool))}


def _extra_columns(view: RunView) -> list[str]:
    """Scalar prompt fields the columns above do not cover (pass^k, a later version's), kept as columns."""
    found = {key for model in view.models for prompt in model.record.prompts for key in _scalars(prompt)}
    return sorted(found - KNOWN_PROMPT_FIELDS - set(COLUMNS))


def _safe(row: dict) -> dict:
    return {k: "'" + v if isinstance(v, str) and _formula_like(v) else v for k, v in row.items()}


def _formula_like(text: str) -> bool:
    first = text.lstrip(LEADING_BLANKS)[:1]
    return (
        text.startswith(FORMULA_STARTS)
        or (first != "" and (first in FORMULA_STARTS or first in FULLWIDTH_STARTS))
        or (text[:1] != "" and ord(text[0]) < 0x20)
    )

"""Deciding which model to ship from one run, in plain words.

The pick: among the models that ran and fit in the machine's RAM, the one that passed the most
prompts (all of them, ideally), and among those the fastest by median time to a full answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bakeoff.inputs.registry import GIB
from bakeoff.metrics import METRICS
from bakeoff.report.model import ModelRecord, Report

RUNNERS_UP = 2  # the next best models the advice mentions by name


@dataclass(frozen=True)
class Recommendation:
    choice: tuple[str, str] | None  # (name, runtime) of the model to ship; None: no model ran
    text: str


def recommend(report: Report) -> Recommendation:
    names = report.labels
    ram_gb = report.environment.ram_gb
    ran = [m for m in report.models if m.status == "ran" and m.prompts]
    others = len(report.models) - len(ran)
    caveat = (
        f"This run is incomplete ({report.incomplete_reason}), so this covers only the models that finished. "
        if report.status != "complete"
        else ""
    )
    if not ran:
        return Recommendation(None, f"{caveat}No model ran, so there is nothing to recommend.")
    fits = [m for m in ran if m.peak_rss_bytes is None or m.peak_rss_bytes / GIB <= ram_gb]
    if not fits:
        return Recommendation(None, f"{caveat}Every model that ran went past the machine's {ram_gb:g} GB of RAM.")
    total = METRICS["total_s"]
    ranked = sorted(fits, key=lambda m: (-m.prompts_passed / len(m.prompts), _or_inf(total.median(m.samples))))
    best = ranked[0]
    if not best.failed_prompts:
        text = (
            f"Ship {names[best.key]}: it passed the checks of all {len(best.prompts)} prompts, "
            f"{_figures(best, ram_gb)}."
        )
    else:
        text = (
            f"No model passed every check. The best, {names[best.key]}, "
            f"passed {best.prompts_passed} of {len(best.prompts)} "
            f"prompts (failed: {', '.join(best.failed_prompts)}), {_figures(best, ram_gb)}. "
            f"Look at its failed answers before shipping it."
        )
    runners = ranked[1:]
    if runners:
        text += " " + " ".join(_against(names[m.key], m, best) for m in runners[:RUNNERS_UP])
        if len(runners) > RUNNERS_UP:
            text += f" {len(runners) - RUNNERS_UP} more ranked lower."
    elif others:
        text += f" It is the only model that ran; {others} other{'s were' if others > 1 else ' was'} not run."
    return Recommendation(best.key, caveat + text)


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _figures(model: ModelRecord, ram_gb: float) -> str:
    total, ttft, decode = (METRICS[k].median(model.samples) for k in ("total_s", "ttft_s", "decode_tokens_per_s"))
    parts = []
    if total is not None:
        parts.append(f"answers in a median {total:.1f} s")
    if ttft is not None and decode is not None:
        parts.append(f"(first token after {METRICS['ttft_s'].figure(ttft)}, then {decode:.1f} tokens/s)")
    if model.peak_rss_bytes is not None:
        parts.append(
            f"and peaked at {METRICS['peak_rss_bytes'].figure(model.peak_rss_bytes)} of the machine's {ram_gb:g} GB RAM"
        )
    return " ".join(parts) or "with no timing recorded"


def _against(name: str, model: ModelRecord, best: ModelRecord) -> str:
    if model.failed_prompts:
        outcome = f"{name} passed {model.prompts_passed} of {len(model.prompts)}"
    else:
        outcome = f"{name} passed them all too"
    total, best_total = METRICS["total_s"].median(model.samples), METRICS["total_s"].median(best.samples)
    if total and best_total:
        ratio = total / best_total
        if abs(ratio - 1) < 0.05:
            return f"{outcome} and is about as fast."
        speed = f"{ratio:.1f}x slower" if ratio > 1 else f"{1 / ratio:.1f}x faster"
        return f"{outcome} and is {speed}."
    return f"{outcome}."

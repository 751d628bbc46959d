"""Deciding which model to ship from one run, in plain words.

The pick: among the models that ran and fit in the machine's RAM, the one that passed the most
prompts (all of them, ideally), and among those the fastest by median time to a full answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bakeoff.inputs.registry import GIB
from bakeoff.show.summary import MIB, ModelSummary, labels, model_key, summarize_model

RUNNERS_UP = 2  # the next best models the advice mentions by name


@dataclass(frozen=True)
class Recommendation:
    choice: tuple[str, str] | None  # (name, runtime) of the model to ship; None: no model ran
    text: str


def recommend(report: dict) -> Recommendation:
    names = labels(report["models"])
    ram_gb = report["environment"]["ram_gb"]
    summaries = [summarize_model(m) for m in report["models"]]
    ran = [s for s in summaries if s.status == "ran" and s.prompts]
    others = len(summaries) - len(ran)
    caveat = (
        f"This run is incomplete ({report.get('incomplete_reason')}), so this covers only the models that finished. "
        if report["status"] != "complete"
        else ""
    )
    if not ran:
        return Recommendation(None, f"{caveat}No model ran, so there is nothing to recommend.")

    def label(s: ModelSummary) -> str:
        return names[(s.name, s.runtime)]

    fits = [s for s in ran if s.peak_rss_bytes is None or s.peak_rss_bytes / GIB <= ram_gb]
    if not fits:
        return Recommendation(None, f"{caveat}Every model that ran went past the machine's {ram_gb:g} GB of RAM.")
    ranked = sorted(fits, key=lambda s: (-s.prompts_passed / s.prompts, s.total_s if s.total_s is not None else math.inf))
    best = ranked[0]
    if best.passed_all:
        text = f"Ship {label(best)}: it passed the checks of all {best.prompts} prompts, {_figures(best, ram_gb)}."
    else:
        text = (
            f"No model passed every check. The best, {label(best)}, passed {best.prompts_passed} of {best.prompts} "
            f"prompts (failed: {', '.join(best.failed_prompts)}), {_figures(best, ram_gb)}. "
            f"Look at its failed answers before shipping it."
        )
    runners = ranked[1:]
    if runners:
        text += " " + " ".join(_against(label(s), s, best) for s in runners[:RUNNERS_UP])
        if len(runners) > RUNNERS_UP:
            text += f" {len(runners) - RUNNERS_UP} more ranked lower."
    elif others:
        text += f" It is the only model that ran; {others} other{'s were' if others > 1 else ' was'} not run."
    return Recommendation(model_key({"name": best.name, "runtime": best.runtime}), caveat + text)


def _figures(s: ModelSummary, ram_gb: float) -> str:
    parts = []
    if s.total_s is not None:
        parts.append(f"answers in a median {s.total_s:.1f} s")
    if s.ttft_s is not None and s.decode_tokens_per_s is not None:
        parts.append(f"(first token after {s.ttft_s * 1000:.0f} ms, then {s.decode_tokens_per_s:.1f} tokens/s)")
    if s.peak_rss_bytes is not None:
        parts.append(f"and peaked at {s.peak_rss_bytes / MIB:.0f} MB of the machine's {ram_gb:g} GB RAM")
    return " ".join(parts) or "with no timing recorded"


def _against(name: str, s: ModelSummary, best: ModelSummary) -> str:
    if s.prompts_passed < s.prompts:
        outcome = f"{name} passed {s.prompts_passed} of {s.prompts}"
    else:
        outcome = f"{name} passed them all too"
    if s.total_s and best.total_s:
        ratio = s.total_s / best.total_s
        if abs(ratio - 1) < 0.05:
            return f"{outcome} and is about as fast."
        speed = f"{ratio:.1f}x slower" if ratio > 1 else f"{1 / ratio:.1f}x faster"
        return f"{outcome} and is {speed}."
    return f"{outcome}."

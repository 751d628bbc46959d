"""Per-model figures from a report (pure functions, no I/O), shared by every way of showing a run.

Models are keyed by name and runtime: the same model may run on several runtimes in one report.
Figures are medians over all of a model's samples, so every prompt weighs by its repeats.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

MIB = 1024**2


def model_key(model: dict) -> tuple[str, str]:
    return model["name"], model.get("runtime", "")


def labels(models: list[dict]) -> dict[tuple[str, str], str]:
    """A display name per model: its name, plus its runtime where the name runs on several."""
    names = Counter(name for name, _ in {model_key(m) for m in models})
    return {
        model_key(m): f"{m['name']} ({m.get('runtime')})" if names[m["name"]] > 1 else m["name"] for m in models
    }


def sample_values(model: dict, metric: str) -> list[float]:
    return [s[metric] for p in model.get("prompts", []) for s in p.get("samples", []) if s.get(metric) is not None]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class ModelSummary:
    name: str
    runtime: str
    status: str
    reason: str | None
    ready_s: float | None
    ttft_s: float | None  # medians over all samples
    total_s: float | None
    decode_tokens_per_s: float | None
    peak_rss_bytes: int | None
    prompts_passed: int
    prompts: int
    failed_prompts: tuple[str, ...]

    @property
    def passed_all(self) -> bool:
        return self.prompts > 0 and self.prompts_passed == self.prompts


def summarize_model(model: dict) -> ModelSummary:
    prompts = model.get("prompts", [])
    return ModelSummary(
        name=model["name"],
        runtime=model.get("runtime", ""),
        status=model["status"],
        reason=model.get("reason"),
        ready_s=model.get("ready_seconds"),
        ttft_s=median(sample_values(model, "ttft_s")),
        total_s=median(sample_values(model, "total_s")),
        decode_tokens_per_s=median(sample_values(model, "decode_tokens_per_s")),
        peak_rss_bytes=model.get("peak_rss_bytes"),
        prompts_passed=sum(bool(p.get("passed")) for p in prompts),
        prompts=len(prompts),
        failed_prompts=tuple(p["id"] for p in prompts if not p.get("passed")),
    )


def prompt_ids(report: dict) -> list[str]:
    """Every prompt any model answered, in the order they first appear."""
    return list(dict.fromkeys(p["id"] for m in report["models"] for p in m.get("prompts", [])))


def prompt_median(prompt: dict, metric: str) -> float | None:
    """The median of one prompt's samples."""
    return median([s[metric] for s in prompt.get("samples", []) if s.get(metric) is not None])


def rating_scores(rating: dict) -> dict[str, float]:
    """A human rating's scores by criterion (accuracy, clarity, ...), whatever the criteria are."""
    return {k: v for k, v in rating.items() if k != "samples" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def describe_rating(rating: dict) -> str:
    scores = ", ".join(f"{k} {v:g}" for k, v in rating_scores(rating).items())
    return f"{scores} ({rating['rater']})" if rating.get("rater") else scores


def describe_ratings(ratings: list[dict]) -> str:
    """The mean of each criterion over some ratings, with how many there are; '' for none."""
    if not ratings:
        return ""
    criteria = list(dict.fromkeys(k for r in ratings for k in rating_scores(r)))
    means = ", ".join(f"{c} {statistics.fmean(rating_scores(r)[c] for r in ratings if c in rating_scores(r)):.1f}" for c in criteria)
    return f"{means} ({len(ratings)} rating{'s' if len(ratings) > 1 else ''})"

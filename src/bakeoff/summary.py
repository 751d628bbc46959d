"""Per-model figures from a report (pure functions, no I/O), shared by every way of showing a run.

Models are keyed by name and runtime: the same model may run on several runtimes in one report.
Figures are medians over all of a model's samples, so every prompt weighs by its repeats.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from .registry import GIB

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


def stat_median(prompt: dict, metric: str) -> float | None:
    """The median the report stored for one prompt's metric, if any."""
    return ((prompt.get("stats") or {}).get(metric) or {}).get("median")


def describe(item) -> str:
    """One line for a recorded item of unknown shape, such as a human rating."""
    return ", ".join(f"{k}: {v}" for k, v in item.items()) if isinstance(item, dict) else str(item)

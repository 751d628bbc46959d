"""Showing a run in the terminal: one comparison row per model, within 80 columns."""

from __future__ import annotations

MIB = 1024**2


def _median(prompts: list[dict], metric: str) -> float | None:
    """The median over all of a model's samples, so every prompt weighs by its repeats."""
    values = sorted(
        s[metric] for p in prompts for s in p["samples"] if s.get(metric) is not None
    )
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def comparison_lines(report: dict) -> list[str]:
    header = f"{'model':<24} {'status':<7} {'ready s':>7} {'TTFT ms':>7} {'tok/s':>6} {'peak MB':>7} {'checks':>7}"
    lines = [header, "-" * len(header)]
    notes = []
    for model in report["models"]:
        prompts = model["prompts"]
        passed = sum(p["passed"] for p in prompts)
        ttft = _median(prompts, "ttft_s")
        peak = model.get("peak_rss_bytes")
        lines.append(
            f"{model['name'][:24]:<24} {model['status'][:7]:<7} "
            f"{_fmt(model.get('ready_seconds'), '{:.1f}'):>7} "
            f"{_fmt(ttft and ttft * 1000, '{:.0f}'):>7} "
            f"{_fmt(_median(prompts, 'decode_tokens_per_s'), '{:.1f}'):>6} "
            f"{_fmt(peak and peak / MIB, '{:.0f}'):>7} "
            f"{(f'{passed}/{len(prompts)}' if prompts else '-'):>7}"
        )
        if model["status"] != "ran" and model.get("reason"):
            reason = model["reason"]
            named = reason if reason.startswith(model["name"]) else f"{model['name']}: {reason}"
            notes.append(f"  {named}")
    if notes:
        lines += ["", "not run:", *notes]
    return lines

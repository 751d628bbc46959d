"""Valid reports with chosen figures, for tests of comparing, gating and showing.

Samples, prompts and models are built as plain data (as a report file holds them); `report`
validates them into a `Report`."""

from __future__ import annotations

import copy

import numpy as np

from bakeoff.report.model import Report
from bakeoff.report.store import parse_report

ENVIRONMENT = {
    "cpu": "AMD EPYC",
    "cpu_count": 2,
    "ram_gb": 23.5,
    "os": "Linux-6.18-x86_64",
    "python": "3.11.7",
    "bakeoff_version": "0.1.0",
    "runtimes": {"foundry": "2.2.1"},
}


def samples(ttft: float, decode: float, checks: list[bool], n: int = 10, seed: int = 0, spread: float = 0.03,
            launches: int = 1, launch_spread: float = 0.0) -> list[dict]:
    """`n` timing-like samples around the given medians; each sample's checks pass as given.

    With `launches` > 1 the samples take turns across that many server launches (each sample
    records its `launch`), and each launch moves every figure by a common factor (sd
    `launch_spread` on the log scale); with one launch they record none, as older reports."""
    rng = np.random.default_rng(seed)
    levels = rng.normal(0, launch_spread, launches) if launch_spread else np.zeros(launches)
    out = []
    for index in range(n):
        launch = index % launches
        first = float(ttft * np.exp(levels[launch] + rng.normal(0, spread)))
        rate = float(decode * np.exp(-levels[launch] + rng.normal(0, spread)))
        out.append(
            {
                "response": "an answer",
                "ttft_s": first,
                "total_s": first + 40 / rate,
                "output_tokens": 41,
                "decode_tokens_per_s": rate,
                "itl_p50_s": 1 / rate,
                "checks": [{"check": f"check {i}", "passed": ok, "detail": ""} for i, ok in enumerate(checks)],
                **({"launch": launch} if launches > 1 else {}),
            }
        )
    return out


def prompt(prompt_id: str, sample_list: list[dict]) -> dict:
    labels = [c["check"] for c in sample_list[0]["checks"]]
    checks = []
    for index, label in enumerate(labels):
        rate = sum(s["checks"][index]["passed"] for s in sample_list) / len(sample_list)
        checks.append({"check": label, "pass_rate": rate, "passed": rate >= 1.0})
    return {
        "id": prompt_id,
        "text": f"text of {prompt_id}",
        "repeats": len(sample_list),
        "min_pass_rate": 1.0,
        "passed": all(c["passed"] for c in checks),
        "error": None,
        "stats": {},
        "checks": checks,
        "samples": sample_list,
    }


def model(name: str, prompts: list[dict], peak_rss: int = 800 * 1024**2, runtime: str = "foundry", **extra) -> dict:
    record = {
        "name": name,
        "task": "chat",
        "family": "qwen",
        "runtime": runtime,
        "status": "ran",
        "reason": None,
        "starts": 1,
        "weights_sha256": "ab" * 32,
        "peak_rss_bytes": peak_rss,
        "ready_seconds": 5.0,
        "prompts": prompts,
    }
    record.update(extra)
    return record


def report(models: list[dict], run_id: str = "run", **environment) -> Report:
    data = {
        "schema": "bakeoff.report/2",
        "run_id": run_id,
        "status": "complete",
        "incomplete_reason": None,
        "started_at": "2026-11-22T21:00:00+00:00",
        "finished_at": "2026-11-22T21:05:00+00:00",
        "environment": {**copy.deepcopy(ENVIRONMENT), **environment},
        "models": models,
    }
    return parse_report(data, where=run_id)


def simple_report(run_id: str, ttft: float = 0.5, decode: float = 30.0, checks=(True, True), peak_rss=800 * 1024**2,
                  seed: int = 0, n: int = 10, name: str = "qwen", launches: int = 1, launch_spread: float = 0.0,
                  **environment) -> Report:
    """One model, two prompts (a short and a long one), with the given medians."""
    timing = {"launches": launches, "launch_spread": launch_spread}
    prompts = [
        prompt("short", samples(ttft, decode, list(checks), n=n, seed=seed, **timing)),
        prompt("long", samples(ttft * 4, decode, [True], n=n, seed=seed + 1000, **timing)),
    ]
    return report([model(name, prompts, peak_rss)], run_id, **environment)


TIMES = ("ttft_s", "total_s", "itl_p50_s", "itl_p95_s")


def scaled(source: Report, run_id: str, started_at: str, slower: float = 1.0, slower_ttft: float = 1.0) -> Report:
    """A copy of a real report as another run: every timing figure `slower` times slower (decode
    speed divided by it), time to first token `slower_ttft` times more on top."""
    copy_ = source.model_copy(deep=True)
    copy_.run_id, copy_.started_at = run_id, started_at
    for model_ in copy_.models:
        for prompt_ in model_.prompts:
            for sample in prompt_.samples:
                for key in TIMES:
                    if getattr(sample, key) is not None:
                        setattr(sample, key, getattr(sample, key) * slower * (slower_ttft if key == "ttft_s" else 1.0))
                if sample.decode_tokens_per_s is not None:
                    sample.decode_tokens_per_s /= slower
    return copy_


def nightly_series(source: Report, runs: int, seed: int, step_at: int | None = None, step: float = 1.3,
                   noise: float = 0.03) -> list[Report]:
    """`runs` nights made from one real report: each night's timings move by a little noise (sd
    `noise`, relative); from night `step_at` on, time to first token is `step` times slower."""
    rng = np.random.default_rng(seed)
    return [
        scaled(source, f"night-{night:02d}", f"2026-11-{night + 1:02d}T02:00:00+00:00", float(np.exp(rng.normal(0, noise))),
               step if step_at is not None and night >= step_at else 1.0)
        for night in range(runs)
    ]

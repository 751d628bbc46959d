"""Deciding on a prompt's answers: run each check on each sample, and weigh pass rates."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import run_check, shorten
from .client import Sample
from .prompts import Prompt
from .stats import summarize

METRICS = ("ttft_s", "total_s", "output_tokens", "decode_tokens_per_s", "itl_p50_s", "itl_p95_s")


@dataclass
class Verdict:
    passed: bool
    sample_records: list[dict]
    check_records: list[dict]
    stats: dict
    failure_message: str


def judge(prompt: Prompt, samples: list[Sample]) -> Verdict:
    sample_records, check_records, failures = [], [], []
    per_sample = [[run_check(spec, s.response) for spec in prompt.checks] for s in samples]
    for sample, outcomes in zip(samples, per_sample):
        sample_records.append(
            {
                **sample.to_dict(),
                "checks": [
                    {"check": spec.label, "passed": o.passed, "detail": o.detail} for spec, o in zip(prompt.checks, outcomes)
                ],
            }
        )
    for index, spec in enumerate(prompt.checks):
        results = [outcomes[index] for outcomes in per_sample]
        rate = sum(o.passed for o in results) / len(results)
        passed = rate >= prompt.min_pass_rate
        check_records.append({"check": spec.label, "pass_rate": rate, "passed": passed})
        if not passed:
            failing = next(o for o in results if not o.passed)
            answer = next(s.response for s, o in zip(samples, results) if not o.passed)
            failures.append(
                f"check {spec.label} passed {rate:.0%} of {len(results)} (needs {prompt.min_pass_rate:.0%}): "
                f"{failing.detail}; prompt {prompt.text!r}; answer {shorten(answer)!r}"
            )
    stats = {metric: summarize([getattr(s, metric) for s in samples]) for metric in METRICS}
    return Verdict(not failures, sample_records, check_records, stats, "\n".join(failures))

"""Deciding on a prompt's answers: run each check on each sample, and weigh pass rates."""

from __future__ import annotations

from dataclasses import dataclass

from bakeoff.console import shorten
from bakeoff.decide.checks import run_check
from bakeoff.decide.stats import summarize
from bakeoff.inputs.prompts import Prompt
from bakeoff.measure.client import Sample
from bakeoff.metrics import METRICS, metric_keys
from bakeoff.report.model import AttemptCheck, SampleRecord


@dataclass
class Verdict:
    passed: bool
    sample_records: list[SampleRecord]
    check_records: list[dict]
    stats: dict
    failure_message: str
    attempt_pass_rate: float  # share of attempts that passed every check
    pass_k: bool  # pass^k: every one of the k attempts passed every check


def verdict_for(prompt: Prompt, samples: list[Sample]) -> Verdict:
    """Run every check on every attempt; a check passes when its pass rate reaches min_pass_rate.
    A judge check is left out: the judge grades the answers after every candidate ran."""
    checks = prompt.rule_checks
    per_sample = [[run_check(spec, s.response, s) for spec in checks] for s in samples]
    sample_records = [
        SampleRecord.from_sample(
            sample,
            passed=all(o.passed for o in outcomes),
            checks=[
                AttemptCheck(
                    check=spec.label,
                    passed=o.passed,
                    detail=o.detail,
                    sandbox_missing=list(o.sandbox_missing) if o.sandbox_missing else None,
                )
                for spec, o in zip(checks, outcomes, strict=True)
            ],
        )
        for sample, outcomes in zip(samples, per_sample, strict=True)
    ]
    check_records, failures = [], []
    for index, spec in enumerate(checks):
        results = [outcomes[index] for outcomes in per_sample]
        passes = sum(o.passed for o in results)
        rate = passes / len(results)
        passed = rate >= prompt.min_pass_rate
        check_records.append(
            {
                "check": spec.label,
                "pass_rate": rate,
                "passes": passes,
                "attempts": len(results),
                "pass_k": passes == len(results),
                "passed": passed,
            }
        )
        if not passed:
            attempt, failing = next((n, o) for n, o in enumerate(results, start=1) if not o.passed)
            failures.append(
                f"check {spec.label} passed {passes} of {len(results)} attempts "
                f"({rate:.0%}, needs {prompt.min_pass_rate:.0%}); "
                f"attempt {attempt}: {failing.detail}\n  prompt: {shorten(prompt.text)!r}\n"
                f"  answer: {shorten(samples[attempt - 1].response)!r}"
            )
    stats = {metric: summarize([METRICS[metric].of(s) for s in samples]) for metric in metric_keys(per="sample")}
    clean = sum(all(o.passed for o in outcomes) for outcomes in per_sample)
    return Verdict(
        passed=not failures,
        sample_records=sample_records,
        check_records=check_records,
        stats=stats,
        failure_message="\n".join(failures),
        attempt_pass_rate=clean / len(samples),
        pass_k=clean == len(samples),
    )

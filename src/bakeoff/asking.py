"""Asking one prompt of a served model in one launch, with no pytest in it.

The prompt's requests go to the launch through a workload (`bakeoff.measure.workload`), its
checks run over its attempts of every launch so far (`bakeoff.decide.evaluation`), and the
outcome is recorded in the model's run (`bakeoff.model_run.ModelRun`): also when the server did
not answer properly, with the attempts it did answer. The pytest plugin times the requests
(the plan's rounds) and turns the outcome into a pass, a fail or an xfail.
"""

from __future__ import annotations

from dataclasses import dataclass

from bakeoff.decide.evaluation import Verdict, verdict_for
from bakeoff.inputs.prompts import Prompt
from bakeoff.measure.client import ServerFault
from bakeoff.measure.workload import Plan, requests_for
from bakeoff.model_run import ModelRun, RunningModel


@dataclass(frozen=True)
class Asked:
    """A prompt's outcome in one launch, recorded."""

    verdict: Verdict | None  # None: it failed before a verdict (not asked, or the server failed it)
    failure: str | None = None  # one line the prompt fails with: not asked, or what the server did wrong
    expected_failure: str | None = None  # checks failed on a model that need not pass them (must_pass_checks: false)


def ask_prompt(
    model_run: ModelRun, running: RunningModel, prompt: Prompt, repeats: int, plan: Plan | None = None
) -> Asked:
    """Ask `prompt` `repeats` times in this launch, decide on every attempt so far and record it."""
    samples = model_run.samples_of(prompt)
    if model_run.gave_up:  # the server stopped answering earlier: do not wait on it again
        model_run.record_prompt(prompt, None, error=f"not asked: {model_run.gave_up}")
        return Asked(None, failure=f"not asked: {model_run.gave_up}")
    requests = requests_for(prompt.id, prompt.messages, prompt.request_options, repeats, first=len(samples))
    try:
        running.workload(plan).run(requests, into=samples)
    except ServerFault as fault:
        failure = model_run.server_fault(fault)
        model_run.record_prompt(prompt, verdict_for(prompt, samples) if samples else None, error=str(fault))
        return Asked(None, failure=failure)
    except Exception as exc:
        verdict = verdict_for(prompt, samples) if samples else None
        model_run.record_prompt(prompt, verdict, error=f"{type(exc).__name__}: {exc}")
        raise
    verdict = verdict_for(prompt, samples)
    model_run.record_prompt(prompt, verdict, error=None)
    if verdict.passed or running.entry.must_pass_checks:
        return Asked(verdict)
    expected = f"{running.entry.label} (must_pass_checks: false): {verdict.failure_message}"
    return Asked(verdict, expected_failure=expected)

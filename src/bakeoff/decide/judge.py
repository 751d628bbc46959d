"""Model-graded checks: a judge model scores an answer 1-5 per criterion of a rubric.

A prompt's `judge` check is written in prompts.yaml like any other check:

    - judge: {threshold: 3, reference: "Paris", model: qwen2.5-coder-1.5b}

and its criteria default to the course's (accuracy, clarity, completeness). Unlike the other
checks it is not run when the answer arrives: the pytest plugin grades every answer after all
candidates ran, with one judge server, so the judge is never loaded while a candidate is timed.

This module owns the rubric, the request sent to the judge (asking for structured output: a JSON
Schema of the scores and a one-sentence reason), the validation of what comes back with bounded
retries, and writing the outcome into a prompt's record. It never starts a model: `ask` is
handed in (messages, request options -> the judge's text).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import jsonschema

from bakeoff.console import shorten
from bakeoff.decide.checks import Outcome, check, extract_json
from bakeoff.inputs.prompts import JUDGE_KIND, CheckSpec
from bakeoff.report.model import AttemptCheck, CheckResult, JudgeRecord, PromptResult

# The course's criteria, as `bakeoff rate` asks people for them; what a rubric defaults to.
COURSE_CRITERIA = {
    "accuracy": "Is the answer correct and free of false or invented statements? 1: wrong; 5: fully correct.",
    "clarity": "Is it easy to read and to the point? 1: confusing or rambling; 5: clear.",
    "completeness": "Does it do everything the question asks, no less? 1: misses it; 5: complete.",
}
TRIES = 3  # requests per answer before a reply that is not valid JSON becomes a judge error
MAX_TOKENS = 200

SYSTEM = (
    "You grade answers strictly. Score the answer to the question on each criterion from 1 (worst) "
    "to 5 (best). A wrong answer gets 1 for accuracy however well it is written. Reply with JSON only."
)


@dataclass(frozen=True)
class Rubric:
    """A judge check as written: the criteria and their descriptions, the pass threshold (a mean
    over the criteria, or a minimum per criterion), an optional reference answer, the judge model."""

    criteria: dict[str, str]
    threshold: float | dict[str, float]
    reference: str | None
    model: str | None  # None: prompts.yaml's `defaults: judge`

    @classmethod
    def of(cls, spec: CheckSpec) -> Rubric:
        argument = spec.argument if isinstance(spec.argument, dict) else {}
        return cls(
            argument.get("criteria") or dict(COURSE_CRITERIA),
            argument.get("threshold", 3),
            argument.get("reference"),
            argument.get("model"),
        )

    @property
    def schema(self) -> dict:
        """What the judge is asked to return, and what its reply is validated against."""
        scores = {name: {"type": "integer", "minimum": 1, "maximum": 5} for name in self.criteria}
        return {
            "type": "object",
            # No maxLength on the reason: llama.cpp makes it a grammar that slows every token; max_tokens bounds it.
            "properties": {"reason": {"type": "string"}, **scores},
            "required": ["reason", *self.criteria],
            "additionalProperties": False,
        }

    def messages(self, question: str, answer: str) -> list[dict]:
        criteria = "\n".join(f"- {name}: {description}" for name, description in self.criteria.items())
        reference = f"\n\nA correct reference answer:\n{self.reference}" if self.reference else ""
        fields = ", ".join(f'"{name}": 1-5' for name in self.criteria)
        user = (
            f"Question:\n{question}{reference}\n\nAnswer to grade:\n{answer}\n\nCriteria:\n{criteria}\n\n"
            f'Reply with one JSON object: {{"reason": "one short sentence", {fields}}}'
        )
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def verdict(self, scores: dict[str, int]) -> tuple[bool, str]:
        """Whether the scores meet the threshold, and the threshold in words."""
        if isinstance(self.threshold, dict):
            low = [f"{name} {scores[name]} < {need:g}" for name, need in self.threshold.items() if scores[name] < need]
            return not low, "; ".join(low) or "every criterion at its minimum"
        mean = statistics.fmean(scores.values())
        return mean >= self.threshold, f"mean {mean:.2f}, needs {self.threshold:g}"


def _validate(criteria: dict[str, str] | None = None, threshold: float | dict[str, float] = 3, **_) -> None:
    if criteria is not None and not criteria:
        raise ValueError("judge: criteria needs at least one criterion")
    names = set(criteria or COURSE_CRITERIA)
    if isinstance(threshold, dict):
        unknown = set(threshold) - names
        if unknown:
            raise ValueError(
                f"judge: threshold names {', '.join(sorted(unknown))}, "
                f"not among the criteria ({', '.join(sorted(names))})"
            )
        values = list(threshold.values())
    else:
        values = [threshold]
    if any(not 1 <= v <= 5 for v in values):
        raise ValueError("judge: a threshold is a score between 1 and 5")


@check(JUDGE_KIND, validate=_validate)
def judge(
    answer: str,
    criteria: dict[str, str] | None = None,
    threshold: float | dict[str, float] = 3,
    reference: str | None = None,
    model: str | None = None,
) -> Outcome:
    """Registered for its arguments' validation; answers are graded after the run (see `grade`)."""
    return Outcome(False, "not graded: the judge grades answers after every candidate ran")


Ask = Callable[[list[dict], dict], str]  # (messages, request options) -> the judge's reply


def grade(
    rubric: Rubric,
    question: str,
    answer: str,
    ask: Ask,
    *,
    judge_label: str,
    self_judged: bool,
    json_schema_format: dict,
) -> JudgeRecord:
    """Ask the judge about one answer until its reply is valid (at most TRIES times).

    A reply that never validates, or a judge that fails to answer, is a judge error with the text
    it sent: the check then fails, never passes. `json_schema_format` is the request's
    `response_format` (how the runtimes want the schema sent)."""
    started = time.perf_counter()
    reply = ask_until_valid(rubric.messages(question, answer), rubric.schema, ask, json_schema_format)
    if reply.value is not None:
        scores = {name: reply.value[name] for name in rubric.criteria}
        return JudgeRecord(
            judge=judge_label,
            scores=scores,
            reason=reply.value["reason"],
            self_judged=self_judged,
            tries=reply.tries,
            seconds=time.perf_counter() - started,
        )
    return JudgeRecord(
        judge=judge_label,
        error=reply.error,
        raw=reply.raw,
        self_judged=self_judged,
        tries=reply.tries,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class Reply:
    """What a judge answered to one question: the valid JSON value, or the error and its last text."""

    value: dict | None
    raw: str
    error: str | None
    tries: int


def ask_until_valid(messages: list[dict], schema: dict, ask: Ask, json_schema_format: dict) -> Reply:
    """Ask the judge until its reply is JSON matching `schema`, at most TRIES times; then a judge error."""
    raw = ""
    problem: str | None = ""
    for attempt in range(1, TRIES + 1):
        # The first try is greedy; a retry samples, so the same wrong reply does not come back.
        options = {
            "max_tokens": MAX_TOKENS,
            "temperature": 0.0 if attempt == 1 else 0.7,
            "response_format": json_schema_format,
        }
        try:
            raw = ask(messages, options)
        except Exception as exc:  # noqa: BLE001 - a judge that fails to answer is a judge error, never a crash
            problem = f"{type(exc).__name__}: {exc}"
            continue
        value, problem = _parse(raw, schema)
        if problem is None:
            return Reply(value, raw, None, attempt)
    return Reply(None, raw, f"judge error after {TRIES} tries: {problem}", TRIES)


def _parse(raw: str, schema: dict) -> tuple[dict | None, str | None]:
    value, error = extract_json(raw)
    if error:
        return None, error
    problem = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path) or "(top level)"
        return None, f"does not match the schema asked for at {where}: {problem.message}"
    return value, None


def outcome(rubric: Rubric, record: JudgeRecord) -> Outcome:
    """The check's outcome on one attempt from the judge's record of it."""
    own = " (the judge graded its own model's answer)" if record.self_judged else ""
    if record.error:
        return Outcome(False, f"{record.error}; the judge said: {shorten(record.raw or '', 300)!r}{own}")
    passed, why = rubric.verdict(record.scores)
    scores = ", ".join(f"{name} {score}" for name, score in record.scores.items())
    return Outcome(passed, f"judge {record.judge}: {scores} ({why}): {record.reason}{own}")


def record_grades(
    prompt: PromptResult, spec: CheckSpec, rubric: Rubric, records: list[JudgeRecord], min_pass_rate: float
) -> CheckResult:
    """Write the judge's record and the check's outcome into each attempt, and the check's result
    over all attempts into the prompt, which then passes only if the judge check passed too."""
    for sample, record in zip(prompt.samples, records, strict=True):
        graded = outcome(rubric, record)
        sample.judge = record
        sample.checks.append(AttemptCheck(check=spec.label, passed=graded.passed, detail=graded.detail))
        sample.passed = bool(sample.passed is not False and graded.passed)
    passes = sum(bool(sample.checks[-1].passed) for sample in prompt.samples)
    attempts = len(prompt.samples)
    result = CheckResult(
        check=spec.label,
        pass_rate=passes / attempts,
        passes=passes,
        attempts=attempts,
        pass_k=passes == attempts,
        passed=passes / attempts >= min_pass_rate,
    )
    prompt.checks.append(result)
    clean = sum(bool(s.passed) for s in prompt.samples)
    prompt.update(passed=prompt.passed and result.passed, attempt_pass_rate=clean / attempts, pass_k=clean == attempts)
    return result

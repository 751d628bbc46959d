"""Serving a judge model and grading recorded answers with it, with no pytest in it.

`JudgeServers` serves one judge at a time as the candidates are served (`serving.serve_model`),
keeps it for every answer it grades and stops it when another judge is wanted or the session
ends, so a judge is started once per session and never while a candidate is timed.
`grade_prompt` grades a prompt record's distinct answers (greedy repeats are graded once) and
writes the grades and the judge check's outcome into the record; `judge_switch` asks a judge which
of two models' answers is better, prompt by prompt (`bakeoff gate --pairwise`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bakeoff.decide import judge as judge_check
from bakeoff.decide import pairwise
from bakeoff.decide.compare import find_model
from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt, response_format
from bakeoff.inputs.registry import ModelEntry, find, load_registry
from bakeoff.measure.client import ChatClient, Limits, ServerFault
from bakeoff.report.model import CheckResult, JudgeRecord, ModelRecord, PromptResult, Report
from bakeoff.serving import ServedModel, serve_model
from bakeoff.weights import cache

# A judge is not timed, and grammar-constrained decoding on a busy machine was seen below 0.5
# tokens/s (a 0.5B on 2 cores shared with other jobs): generous bounds, but still bounds.
JUDGE_LIMITS = Limits(
    first_token_s=120, prefill_tokens_per_s=2, decode_tokens_per_s=0.2, stall_s=120, max_request_s=1200
)


class JudgeUnavailable(BakeoffError):
    """The judge model cannot be served here; every answer it was to grade is a judge error."""


@dataclass
class Judge:
    """A served judge: `ask(messages, options)` returns its reply's text."""

    entry: ModelEntry
    client: ChatClient
    schema_format: bool = True  # False once the runtime refused a JSON Schema: then JSON mode and validation

    def ask(self, messages: list[dict], options: dict) -> str:
        if not self.schema_format:
            options = {**options, "response_format": {"type": "json_object"}}
        try:
            return self.client.chat(messages, **options).response
        except ServerFault as fault:
            if self.schema_format and not fault.unresponsive and " answered 4" in str(fault):
                self.schema_format = False  # a runtime without JSON Schema support: fall back, ask again
                return self.ask(messages, options)
            raise


class JudgeServers:
    """Serves the judge models a session needs, one at a time, each started once."""

    def __init__(
        self, registry_path: Path, run_id: str, progress: Callable[[str], None], foreground=contextlib.nullcontext
    ):
        self.registry_path = registry_path
        self.run_id = run_id
        self.progress = progress
        self.foreground = foreground
        self.judge: Judge | None = None
        self.served: ServedModel | None = None
        self.refused: dict[tuple[str, str], str] = {}  # judges that could not be served, and why

    def serving(self, entry: ModelEntry) -> Judge:
        """The judge `entry`, served (started on first use; another judge is stopped first)."""
        if entry.key in self.refused:
            raise JudgeUnavailable(self.refused[entry.key])
        if self.judge is not None and self.judge.entry.key == entry.key:
            return self.judge
        self.stop()
        try:
            self.judge = self._start(entry)
        except BakeoffError as exc:
            self.refused[entry.key] = f"judge {entry.label} not served: {exc}"
            raise JudgeUnavailable(self.refused[entry.key]) from None
        return self.judge

    def _start(self, entry: ModelEntry) -> Judge:
        log_path = cache.judge_log_path(entry, self.run_id)
        self.served = serve_model(
            entry,
            registry_path=self.registry_path,
            log_path=log_path,
            progress=self.progress,
            foreground=self.foreground,
        )
        self.progress(f"judge {entry.label} ready")
        return Judge(entry, self.served.client(JUDGE_LIMITS))

    def stop(self) -> None:
        if self.judge is not None:
            self.judge.client.close()
            self.judge = None
        if self.served is not None:
            self.served.stop()
            self.served = None


def grade_prompt(
    prompt: Prompt, record: PromptResult, candidate: ModelEntry, judge: Judge | JudgeUnavailable
) -> CheckResult:
    """Grade each distinct answer of `record` with `judge` (or record why it could not be) and
    write the judge check's outcome into the record."""
    spec, judge_name = prompt.judge_check, prompt.judge
    if spec is None or judge_name is None:  # graded are the prompts with a judge check, which names its judge
        raise ValueError(f"prompt {prompt.id!r} has no judge check to grade")
    rubric = judge_check.Rubric.of(spec)
    schema_format = response_format("json_schema", rubric.schema)
    by_answer: dict[str, JudgeRecord] = {}
    records = []
    for sample in record.samples:
        if sample.response not in by_answer:
            if isinstance(judge, JudgeUnavailable):
                by_answer[sample.response] = JudgeRecord(
                    judge=judge_name, error=f"judge error: {judge}", self_judged=False, tries=0, seconds=0
                )
            else:
                by_answer[sample.response] = judge_check.grade(
                    rubric,
                    _question(prompt),
                    sample.response,
                    judge.ask,
                    judge_label=judge.entry.label,
                    self_judged=judge.entry.name == candidate.name,
                    json_schema_format=schema_format,
                )
        records.append(by_answer[sample.response])
    return judge_check.record_grades(record, spec, rubric, records, prompt.min_pass_rate)


def judge_switch(
    reports: list[Report],
    from_spec: str,
    to_spec: str,
    judge_spec: str,
    registry_path: Path,
    progress: Callable[[str], None],
) -> pairwise.PairwiseResult:
    """Serve the judge `judge_spec` of models.json once and ask it, for every prompt both A
    (`from_spec`) and B (`to_spec`) answered in `reports`, which first answer is better, in both orders."""
    (_, base), (cand_report, cand) = find_model(reports, from_spec), find_model(reports, to_spec)
    entry = find(load_registry(registry_path), judge_spec)
    servers = JudgeServers(registry_path, f"pairwise-{cand_report.run_id}", progress)
    try:
        try:
            judge: Judge | JudgeUnavailable = servers.serving(entry)
        except JudgeUnavailable as exc:
            judge = exc
        return compare_answers(base, cand, entry, judge)
    finally:
        servers.stop()


def compare_answers(
    base: ModelRecord, cand: ModelRecord, entry: ModelEntry, judge: Judge | JudgeUnavailable
) -> pairwise.PairwiseResult:
    """B (`cand`) against A (`base`) on every prompt both answered: the first answer of each
    (the greedy one when repeats are greedy), judged in both orders by `judge` (the model `entry`)."""
    result = pairwise.PairwiseResult(entry.label)
    if entry.name in (base.name, cand.name):
        result.notes.append(f"the judge {entry.label} is one of the two models compared: it may favour its own answers")
    schema_format = response_format("json_schema", pairwise.SCHEMA)
    answers_a = {p.id: p for p in base.prompts if p.samples}
    for prompt in (p for p in cand.prompts if p.samples and p.id in answers_a):
        a, b = answers_a[prompt.id].samples[0].response, prompt.samples[0].response
        if isinstance(judge, JudgeUnavailable):
            result.verdicts.append(pairwise.PairVerdict(prompt.id, pairwise.ERROR, f"judge error: {judge}"))
        else:
            result.verdicts.append(pairwise.judge_pair(prompt.id, _question(prompt), a, b, judge.ask, schema_format))
    return result


def _question(prompt: Prompt | PromptResult) -> str:
    """The conversation as the judge reads it: earlier turns before the question."""
    earlier = [
        f"{m['role']}: {m['content']}" if isinstance(m, dict) else f"{m.role}: {m.content}"
        for m in prompt.messages[:-1]
    ]
    return "\n".join([*earlier, prompt.text]) if earlier else prompt.text

"""Human ratings: where no rule can decide, a person scores each answer 1-5 on the course's criteria.

Ratings live in the report, in each prompt record's `ratings` list: one entry per distinct
answer (greedy decoding repeats itself, so identical attempts are rated once), naming the
attempts it covers by their index in `samples`:

    {"samples": [0, 1, 2], "accuracy": 4, "clarity": 5, "completeness": 3,
     "rater": "ana" | null, "rated_at": "2026-11-22T22:10:00+00:00"}

`rate_report` walks a person through the unrated answers, saving after each one, so an
interrupted session resumes where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from bakeoff.report.model import CRITERIA, ModelRecord, PromptResult, Rating, Report
from bakeoff.report.store import now_iso, rewrite_report


@dataclass
class Answer:
    model: ModelRecord
    prompt: PromptResult
    response: str
    samples: list[int]  # indices of the attempts that gave this answer

    @property
    def rated(self) -> bool:
        covered = {i for rating in self.prompt.ratings for i in rating.samples}
        return set(self.samples) <= covered


def answers(report: Report) -> list[Answer]:
    """Every distinct answer of every model that ran, in report order."""
    found: list[Answer] = []
    for model in report.models:
        for prompt in model.prompts:
            by_response: dict[str, Answer] = {}
            for index, sample in enumerate(prompt.samples):
                answer = by_response.setdefault(sample.response, Answer(model, prompt, sample.response, []))
                answer.samples.append(index)
            found += by_response.values()
    return found


def add_rating(answer: Answer, scores: dict[str, int], rater: str | None) -> Rating:
    if set(scores) != set(CRITERIA):
        raise ValueError(f"a rating needs {', '.join(CRITERIA)}, each 1-5: {scores!r}")
    try:
        rating = Rating(samples=list(answer.samples), **scores, rater=rater, rated_at=now_iso())
    except ValueError:
        raise ValueError(f"a rating needs {', '.join(CRITERIA)}, each 1-5: {scores!r}") from None
    answer.prompt.ratings.append(rating)
    return rating


def mean_scores(model: ModelRecord) -> dict | None:
    """Each criterion's mean over a model's rated attempts, or None when nothing is rated.

    A rating weighs by the attempts it covers, as every figure here weighs by repeats (and as
    `bakeoff compare` weighs human scores).
    """
    ratings = [r for prompt in model.prompts for r in prompt.ratings]
    if not ratings:
        return None
    weights = [len(r.samples) for r in ratings]
    means = {c: fmean([r.scores[c] for r in ratings], weights=weights) for c in CRITERIA}
    return {**means, "answers": len(ratings), "attempts": sum(weights)}


# --- The walk through a report in the terminal -------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Model output without terminal control sequences: an answer must not repaint the screen."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class Quit(Exception):
    pass


def rate_report(
    path: Path,
    report: Report,
    *,
    rater: str | None,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
) -> int:
    """Ask for scores for each unrated answer, saving the report after each; returns how many were rated."""
    todo = [a for a in answers(report) if not a.rated]
    total = len(answers(report))
    if not todo:
        say(f"all {total} answers in {path} are rated")
        return 0
    say(f"{len(todo)} of {total} answers in {path} to rate; score each 1-5 (s: skip the answer, q: quit)")
    rated = 0
    try:
        for number, answer in enumerate(todo, start=1):
            _show(answer, number, len(todo), say)
            scores = _ask_scores(ask, say)
            if scores is None:
                say("skipped")
                continue
            add_rating(answer, scores, rater)
            rewrite_report(report, path)
            rated += 1
    except (Quit, EOFError):
        say(f"stopped: {rated} rated this time; run `bakeoff rate {path}` again to go on")
    return rated


def _show(answer: Answer, number: int, count: int, say) -> None:
    attempts = ", ".join(str(i + 1) for i in answer.samples)
    say("")
    name, runtime = answer.model.key
    say(f"[{number}/{count}] {name} ({runtime}) · prompt {answer.prompt.id} · attempt(s) {attempts}")
    for message in answer.prompt.conversation:
        say(f"{message.role}: {printable(message.content)}")
    say("--- answer ---")
    say(printable(answer.response))
    checks = answer.prompt.samples[answer.samples[0]].checks
    failed = [c for c in checks if not c.passed]
    say(
        f"--- checks: {len(checks) - len(failed)}/{len(checks)} passed"
        + "".join(f"; failed {c.check}: {c.detail}" for c in failed)
    )


def _ask_scores(ask, say) -> dict[str, int] | None:
    scores = {}
    for criterion in CRITERIA:
        while criterion not in scores:
            reply = ask(f"{criterion} (1-5)? ").strip().lower()
            if reply == "q":
                raise Quit
            if reply == "s":
                return None
            if reply in {"1", "2", "3", "4", "5"}:
                scores[criterion] = int(reply)
            else:
                say("please type 1, 2, 3, 4 or 5 (s: skip, q: quit)")
    return scores

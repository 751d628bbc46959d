"""The view of a run: everything the terminal table, the HTML page and the CSV show, computed once
from a report (pure functions, no I/O).

`run_view(report)` gives each model's display name, its medians over all samples (every prompt
weighs by its repeats), its prompts passed and its mean ratings; the prompts in the order they
first appear; each prompt's cell in the check matrix; the runtimes named once, by their display
names; and the recommendation. Models are keyed by name and runtime: the same model may run on
several runtimes in one report.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cached_property

from bakeoff.decide.agreement import Agreement, agreement
from bakeoff.decide.compare import run_noise
from bakeoff.decide.recommend import recommend
from bakeoff.metrics import METRICS, metric_keys
from bakeoff.report.model import ModelRecord, PromptResult, Rating, Report
from bakeoff.report.ratings import mean_scores
from bakeoff.runtimes import display_name

OUTCOME_MARKS = {"pass": "ok", "fail": "FAIL", "error": "ERROR"}


def outcome(prompt: PromptResult) -> str:
    """ "error", "pass" or "fail": how a prompt went for a model."""
    if prompt.error:
        return "error"
    return "pass" if prompt.passed else "fail"


@dataclass(frozen=True)
class Cell:
    """One prompt of one model in the check matrix."""

    model_index: int  # among the models that answered prompts
    prompt: PromptResult

    @property
    def outcome(self) -> str:
        return outcome(self.prompt)

    @property
    def failed_checks(self) -> list[str]:
        return [c.check for c in self.prompt.checks if not c.passed]

    @property
    def checks(self) -> str:
        """Checks passed of checks: "2/3"."""
        total = len(self.prompt.checks)
        return f"{total - len(self.failed_checks)}/{total}"

    @property
    def anchor(self) -> str:
        return f"answer-{self.model_index}-{self.prompt.id}"


@dataclass(frozen=True)
class ModelView:
    record: ModelRecord
    label: str  # its name, with the runtime where the name runs on several

    @cached_property
    def medians(self) -> dict[str, float | None]:
        return {metric: METRICS[metric].median(self.record.samples) for metric in metric_keys(per="sample")}

    @property
    def passed(self) -> str:
        """Prompts passed of prompts: "3/4", or "-" for a model that answered none."""
        prompts = self.record.prompts
        return f"{self.record.prompts_passed}/{len(prompts)}" if prompts else "-"

    @property
    def reason(self) -> str:
        """Why it did not run (or failed), without the model's name that pytest's own output needs."""
        return (self.record.reason or "").removeprefix(f"{self.record.name}: ")

    @property
    def runtime(self) -> str:
        return " ".join(filter(None, (display_name(self.record.runtime), self.record.runtime_version)))

    @cached_property
    def noise(self) -> dict:
        """Where this run's timing noise is (`decide.compare.run_noise`), per timing figure."""
        return run_noise(self.record)

    @cached_property
    def mean_scores(self) -> dict | None:
        return mean_scores(self.record)

    @property
    def ratings(self) -> list[Rating]:
        return [r for p in self.record.prompts for r in p.ratings]

    @cached_property
    def judge_means(self) -> dict | None:
        """The judge's mean score per criterion over the model's graded attempts, with how many
        attempts were graded, how many were judge errors and how many its own model graded."""
        judged = [s.judge for p in self.record.prompts for s in p.samples if s.judge]
        if not judged:
            return None
        graded = [j for j in judged if j.scores]
        criteria = list(dict.fromkeys(c for j in graded for c in j.scores))
        means = {c: statistics.fmean(j.scores[c] for j in graded if c in j.scores) for c in criteria}
        return {
            "means": means,
            "attempts": len(graded),
            "errors": len(judged) - len(graded),
            "self_judged": sum(j.self_judged for j in judged),
            "judges": sorted({j.judge for j in judged}),
        }


@dataclass(frozen=True)
class RunView:
    report: Report
    models: list[ModelView]  # every model, in report order
    answered: list[ModelView]  # the models that ran and answered prompts
    prompt_ids: list[str]  # every prompt any model answered, in the order they first appear
    recommendation: str

    @cached_property
    def agreement(self) -> list[Agreement]:
        """Judge against people, per criterion, over the answers both scored."""
        return agreement(self.report)

    def cell(self, model_index: int, prompt_id: str) -> Cell | None:
        prompt = next((p for p in self.answered[model_index].record.prompts if p.id == prompt_id), None)
        return None if prompt is None else Cell(model_index, prompt)

    def prompt_text(self, prompt_id: str) -> str:
        return next(p.text for m in self.answered for p in m.record.prompts if p.id == prompt_id)

    @property
    def runtimes(self) -> list[str]:
        """Each runtime of the run once, by its display name, with its version."""
        versions = dict(self.report.environment.runtimes)
        for model in self.report.models:
            if model.runtime_version:
                versions.setdefault(model.runtime, model.runtime_version)
        return sorted(f"{display_name(key)} {version}" for key, version in versions.items())


def run_view(report: Report) -> RunView:
    labels = report.labels
    models = [ModelView(m, labels[m.key]) for m in report.models]
    answered = [v for v in models if v.record.status == "ran" and v.record.prompts]
    # From the models that answered: a failed model's prompts (a server that stopped answering) are not in the matrix.
    prompt_ids = list(dict.fromkeys(p.id for m in answered for p in m.record.prompts))
    return RunView(report, models, answered, prompt_ids, recommend(report).text)


def median_figure(prompt: PromptResult, metric: str, missing: str = "-") -> str:
    """A prompt's median of a per-sample metric, with its unit."""
    return METRICS[metric].figure(METRICS[metric].median(prompt.samples), missing)


def describe_rating(rating: Rating) -> str:
    scores = ", ".join(f"{k} {v:g}" for k, v in rating.scores.items())
    return f"{scores} ({rating.rater})" if rating.rater else scores


def describe_judge(judge) -> str:
    """One attempt's grades: "accuracy 4, clarity 5 (judge qwen2.5-coder-1.5b): reason"."""
    own = "; graded by its own model" if judge.self_judged else ""
    if judge.error:
        return f"{judge.error}: {judge.raw or ''}{own}"
    scores = ", ".join(f"{k} {v}" for k, v in judge.scores.items())
    return f"{scores} (judge {judge.judge}{own}): {judge.reason}"


def describe_ratings(ratings: list[Rating]) -> str:
    """The mean of each criterion over some ratings, with how many there are; '' for none."""
    if not ratings:
        return ""
    means = ", ".join(f"{c} {statistics.fmean(r.scores[c] for r in ratings):.1f}" for c in ratings[0].scores)
    return f"{means} ({len(ratings)} rating{'s' if len(ratings) > 1 else ''})"

"""How far a judge model agrees with people: Krippendorff's alpha for ordinal data, per criterion,
over the answers a run has both a human rating (`bakeoff rate`) and judge scores for.

Alpha is 1 when judge and people agree exactly, 0 when they agree no more than chance would,
below 0 when they disagree systematically. It rests on the count of answers given with it: over
a handful of answers it says little. Pure functions over a report's data; `krippendorff` computes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import krippendorff

from bakeoff.report.model import Report

MIN_ANSWERS = 2


@dataclass(frozen=True)
class Agreement:
    criterion: str
    alpha: float | None  # None: too few answers, or no variation to agree on
    answers: int  # distinct answers with a human and a judge score for the criterion
    note: str = ""

    @property
    def text(self) -> str:
        figure = f"alpha {self.alpha:+.2f}" if self.alpha is not None else f"alpha n/a ({self.note})"
        return f"{self.criterion} {figure} over {self.answers} answer{'s' if self.answers != 1 else ''}"


def pairs(report: Report) -> dict[str, list[tuple[int, int]]]:
    """(human, judge) scores per criterion, one pair per rated answer the judge graded."""
    found: dict[str, list[tuple[int, int]]] = {}
    for model in report.models:
        for prompt in model.prompts:
            for rating in prompt.ratings:
                judged = prompt.samples[rating.samples[0]].judge
                if judged is None:
                    continue
                for criterion, human in rating.scores.items():
                    if criterion in judged.scores:
                        found.setdefault(criterion, []).append((human, judged.scores[criterion]))
    return found


def agreement(report: Report) -> list[Agreement]:
    """Per criterion, where the report has answers both rated and judged; [] when it has none."""
    result = []
    for criterion, scored in pairs(report).items():
        humans, judges = zip(*scored, strict=True)
        if len(scored) < MIN_ANSWERS:
            result.append(Agreement(criterion, None, len(scored), f"needs {MIN_ANSWERS} answers"))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no variation at all: 0/0, reported as n/a
            alpha = krippendorff.alpha(
                reliability_data=[humans, judges], level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]
            )
        if math.isnan(alpha):
            result.append(Agreement(criterion, None, len(scored), "every score the same"))
        else:
            result.append(Agreement(criterion, float(alpha), len(scored)))
    return result

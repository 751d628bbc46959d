"""Judging gates: for a comparison row, the gate that applies and whether the row keeps its limits.

The gates themselves come from `[tool.bakeoff]` (`bakeoff.inputs.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bakeoff.decide.stats import CONFIDENCE, MOST_LAUNCHES, launches_to_settle_gate
from bakeoff.inputs.settings import Gate
from bakeoff.metrics import change_text


def gate_for(gates: tuple[Gate, ...], metric: str, model: str, runtime: str, prompt: str | None) -> Gate | None:
    """The most specific gate for a comparison row, or None when none applies."""
    matching = [g for g in gates if g.applies_to(metric, model, runtime, prompt)]
    return max(matching, key=lambda g: g.specificity, default=None)


@dataclass(frozen=True)
class GateOutcome:
    limit: str
    passed: bool | None  # None: too little data to judge
    reason: str
    inconclusive: bool = False  # the statistics could not tell; `passed` is what [tool.bakeoff] inconclusive says

    def to_dict(self) -> dict:
        return {"limit": self.limit, "passed": self.passed, "reason": self.reason, "inconclusive": self.inconclusive}


def judge_gate(gate: Gate, row, *, inconclusive_fails: bool = False, confidence: float = CONFIDENCE) -> GateOutcome:
    """Whether a comparison row keeps the gate's limits.

    A relative limit fails only on a change that is both detected (the row's statistics tell it
    from noise) and beyond the limit, so run-to-run noise does not trip it; it holds when the
    whole confidence interval stays within the limit (or the change is one exact figure within
    it). Anything between is inconclusive, and `inconclusive_fails` ([tool.bakeoff]
    inconclusive = "fail") decides whether that fails the gate. The same goes for newly failing
    checks: a check that passed every attempt and now fails every attempt is a detected change;
    a flaky one (some attempts pass) is inconclusive unless the prompts, paired, show the drop.
    """
    failures, doubts = [], []
    relative = gate.max_increase is not None or gate.max_decrease is not None
    if relative and row.change is None and gate.max is None and gate.min is None and gate.max_new_failures is None:
        return GateOutcome(gate.describe(), None, f"not judged: {row.note or 'no figure on one side'}")
    for limit, sign, bound in ((gate.max_increase, 1, row.high), (gate.max_decrease, -1, row.low)):
        if limit is None or row.change is None:
            continue
        beyond = sign * row.change > limit
        text = (
            f"changed {change_text(row.change, row.change_kind, row.low, row.high)} "
            f"(limit {'+' if sign > 0 else '-'}{limit:.0%})"
        )
        if beyond and row.detectable is not False and (row.detectable or row.low is None and row.launches is None):
            failures.append(text)  # detected, or one exact figure (peak RSS)
        elif row.launches is not None and (bound is None or sign * bound > limit):
            doubts.append(f"{text}: {_what_would_settle(row, limit, sign > 0, confidence)}")
    if gate.max is not None and row.candidate is not None and row.candidate > gate.max:
        failures.append(f"{row.candidate:g} is above the budget {gate.max:g}")
    if gate.min is not None and row.candidate is not None and row.candidate < gate.min:
        failures.append(f"{row.candidate:g} is below the budget {gate.min:g}")
    if gate.max_new_failures is not None and len(row.new_failures) > gate.max_new_failures:
        text = f"{len(row.new_failures)} check(s) passed before and fail now: {'; '.join(row.new_failures)}"
        if len(row.consistent_failures) > gate.max_new_failures or (row.detectable and row.change < 0):
            failures.append(text)
        else:
            doubts.append(f"{text} (in some attempts only, and the prompts, paired, do not show a drop)")
    if failures:
        return GateOutcome(gate.describe(), False, "; ".join(failures))
    if doubts:
        verdict = "fails: inconclusive" if inconclusive_fails else "inconclusive"
        return GateOutcome(
            gate.describe(), not inconclusive_fails, f"{verdict}: {'; '.join(doubts)}", inconclusive=True
        )
    return GateOutcome(gate.describe(), True, "within the limits")


def _what_would_settle(row, limit: float, increase: bool, confidence: float) -> str:
    """How many launches a side would likely settle this gate: a change beyond its limit detected, or the
    interval inside it."""
    if row.launches is not None and min(row.launches) < 2:
        return "one launch a side cannot tell it from launch-to-launch noise; run at least 2 launches a side"
    needed = launches_to_settle_gate(1 + row.change, row.launch_sd, limit, increase=increase, confidence=confidence)
    if needed:
        return f"about {needed} launches a side would likely settle it against the limit"
    return f"more than {MOST_LAUNCHES} launches a side would be needed to settle it against the limit"

"""Judging gates: for a comparison row, the gate that applies and whether the row keeps its limits.

The gates themselves come from `[tool.bakeoff]` (`bakeoff.inputs.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bakeoff.decide.metrics import change_text
from bakeoff.inputs.settings import Gate


def gate_for(gates: tuple[Gate, ...], metric: str, model: str, runtime: str, prompt: str | None) -> Gate | None:
    """The most specific gate for a comparison row, or None when none applies."""
    matching = [g for g in gates if g.applies_to(metric, model, runtime, prompt)]
    return max(matching, key=lambda g: g.specificity, default=None)


@dataclass(frozen=True)
class GateOutcome:
    limit: str
    passed: bool | None  # None: too little data to judge
    reason: str

    def to_dict(self) -> dict:
        return {"limit": self.limit, "passed": self.passed, "reason": self.reason}


def judge_gate(gate: Gate, row) -> GateOutcome:
    """Whether a comparison row keeps the gate's limits.

    A relative limit fails only on a change that is both detectable (the row's statistics tell it
    from noise) and beyond the limit, so run-to-run noise does not trip it.
    """
    failures = []
    relative = gate.max_increase is not None or gate.max_decrease is not None
    if relative and row.change is None and gate.max is None and gate.min is None and gate.max_new_failures is None:
        return GateOutcome(gate.describe(), None, f"not judged: {row.note or 'no figure on one side'}")
    if row.change is not None and row.detectable is not False:
        if gate.max_increase is not None and row.change > gate.max_increase:
            failures.append(f"changed {change_text(row.change, row.change_kind)} (limit +{gate.max_increase:.0%})")
        if gate.max_decrease is not None and row.change < -gate.max_decrease:
            failures.append(f"changed {change_text(row.change, row.change_kind)} (limit -{gate.max_decrease:.0%})")
    if gate.max is not None and row.candidate is not None and row.candidate > gate.max:
        failures.append(f"{row.candidate:g} is above the budget {gate.max:g}")
    if gate.min is not None and row.candidate is not None and row.candidate < gate.min:
        failures.append(f"{row.candidate:g} is below the budget {gate.min:g}")
    if gate.max_new_failures is not None and len(row.new_failures) > gate.max_new_failures:
        failures.append(f"{len(row.new_failures)} check(s) passed before and fail now: {'; '.join(row.new_failures)}")
    return GateOutcome(gate.describe(), not failures, "; ".join(failures) or "within the limits")


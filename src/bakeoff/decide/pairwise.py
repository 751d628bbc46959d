"""Pairwise judging for a model switch: which of two models' answers to a prompt is better.

A judge shown two answers tends to prefer one position (often the first) whatever the answers
say. So each pair is asked twice, A's answer first and then B's first: a model wins the prompt
only when both orders name its answer; when the orders disagree it is a tie, and the share of
such disagreements is reported as the judge's position bias. A judge error in either order is a
judge error for the prompt, never a win.

Like `bakeoff.decide.judge` this never starts a model: `ask` is handed in, and the retries and
the validation of the structured reply are judge.py's (`ask_until_valid`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bakeoff.decide.judge import Ask, ask_until_valid

SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string"}, "better": {"type": "integer", "enum": [1, 2]}},
    "required": ["reason", "better"],
    "additionalProperties": False,
}
SYSTEM = (
    "You compare two answers to the same question strictly. The better answer is the one that is "
    "correct and does what the question asks; length and style matter only between two correct "
    "answers. Reply with JSON only."
)

WIN, LOSS, TIE, ERROR = "win", "loss", "tie", "judge error"  # from the side of B, the model switched to


def messages(question: str, first: str, second: str) -> list[dict]:
    user = (
        f"Question:\n{question}\n\nAnswer 1:\n{first}\n\nAnswer 2:\n{second}\n\n"
        'Which answer is better? Reply with one JSON object: {"reason": "one short sentence", "better": 1 or 2}'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class PairVerdict:
    """One prompt: B's answer against A's, judged in both orders."""

    prompt: str
    outcome: str  # WIN, LOSS or TIE for B; ERROR when an order had no valid reply
    detail: str
    orders_disagree: bool = False  # the two orders named different answers: position bias
    asked: bool = True  # False: both models gave the same answer, nothing to ask


def judge_pair(
    prompt: str, question: str, answer_a: str, answer_b: str, ask: Ask, json_schema_format: dict
) -> PairVerdict:
    """Ask which of A's and B's answers is better, A's first and then B's first."""
    if answer_a.strip() == answer_b.strip():
        return PairVerdict(prompt, TIE, "the same answer", asked=False)
    preferred = []  # per order, "A" or "B"
    for (first, second), names in ((answer_a, answer_b), "AB"), ((answer_b, answer_a), "BA"):
        reply = ask_until_valid(messages(question, first, second), SCHEMA, ask, json_schema_format)
        if reply.value is None:
            return PairVerdict(
                prompt, ERROR, f"{names[0]}'s answer first: {reply.error}; the judge said: {reply.raw[:300]!r}"
            )
        preferred.append(names[reply.value["better"] - 1])
    if preferred[0] != preferred[1]:
        return PairVerdict(
            prompt,
            TIE,
            (
                f"the orders disagree: {preferred[0]}'s answer preferred with A's shown first, "
                f"{preferred[1]}'s with B's first"
            ),
            orders_disagree=True,
        )
    return PairVerdict(prompt, WIN if preferred[0] == "B" else LOSS, f"{preferred[0]}'s answer better in both orders")


@dataclass
class PairwiseResult:
    """B against A over the prompts both answered, by one judge."""

    judge: str
    verdicts: list[PairVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the judge is one of the two models

    def count(self, outcome: str) -> int:
        return sum(v.outcome == outcome for v in self.verdicts)

    @property
    def judged_both_orders(self) -> int:
        """Pairs of different answers the judge answered in both orders: what position bias is out of."""
        return sum(v.outcome != ERROR and v.asked for v in self.verdicts)

    @property
    def disagreement_share(self) -> float | None:
        judged = self.judged_both_orders
        return sum(v.orders_disagree for v in self.verdicts) / judged if judged else None

    def to_dict(self) -> dict:
        return {
            "judge": self.judge,
            "wins": self.count(WIN),
            "ties": self.count(TIE),
            "losses": self.count(LOSS),
            "judge_errors": self.count(ERROR),
            "order_disagreement_share": self.disagreement_share,
            "notes": self.notes,
            "prompts": [{"prompt": v.prompt, "outcome": v.outcome, "detail": v.detail} for v in self.verdicts],
        }

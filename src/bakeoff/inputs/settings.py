"""Settings: the `[tool.bakeoff]` table of pyproject.toml, read and validated once: the gates a
candidate run (or model) must keep, and how comparisons decide.

    [tool.bakeoff]
    baseline = "reports/baseline.json"
    min_effect = 0.05          # smallest relative change a verdict calls better or worse
    inconclusive = "pass"      # what a gate the statistics cannot settle does: "pass" or "fail"

    [tool.bakeoff.limits]      # bounds on every request (bakeoff.measure.client.Limits); --bakeoff-limit overrides
    stall_s = 30

    [[tool.bakeoff.gates]]     # run against baseline (`bakeoff compare`, `--bakeoff-baseline`)
    metric = "ttft_s"
    max_increase = 0.15        # may not get more than 15% worse

    [[tool.bakeoff.switch]]    # model A against model B (`bakeoff gate`); defaults to the gates
    metric = "peak_rss_bytes"
    max = 4e9                  # an absolute budget for the candidate

A gate naming no prompt judges a model over all its prompts; one naming a prompt judges that
prompt alone. For each comparison row the most specific matching gate applies
(`bakeoff.decide.gates` judges them). Metrics are named as in `bakeoff.metrics`, the one table of
them: a gate may name any compared metric there, so a metric added to the table can be gated at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.inputs.validation import read_document, validate
from bakeoff.metrics import METRICS, metric_keys

DEFAULT_MIN_EFFECT = 0.05
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BASELINE = "reports/baseline.json"
DEFAULT_INCONCLUSIVE = "pass"
# Server launches per model in a run: decode speed can move 11-25% between launches and ~1% between
# the repeats of one launch (README, benchmarks/gate_noise.py), so launches are the level to repeat.
DEFAULT_LAUNCHES = 3


@dataclass(frozen=True)
class Gate:
    metric: str
    model: str | None = None
    runtime: str | None = None
    prompt: str | None = None
    max_increase: float | None = None  # relative: 0.15 means at most 15% above the baseline
    max_decrease: float | None = None
    max: float | None = None  # absolute budget for the candidate's figure
    min: float | None = None
    max_new_failures: int | None = None  # checks that passed in the baseline and fail now

    def applies_to(self, metric: str, model: str, runtime: str, prompt: str | None) -> bool:
        return (
            self.metric == metric
            and self.prompt == prompt
            and self.model in (None, model)
            and self.runtime in (None, runtime)
        )

    @property
    def specificity(self) -> int:
        return (self.model is not None) + (self.runtime is not None)

    def describe(self) -> str:
        limits = []
        if self.max_increase is not None:
            limits.append(f"at most +{self.max_increase:.0%}")
        if self.max_decrease is not None:
            limits.append(f"at most -{self.max_decrease:.0%}")
        if self.max is not None:
            limits.append(f"<= {self.max:g}")
        if self.min is not None:
            limits.append(f">= {self.min:g}")
        if self.max_new_failures is not None:
            limits.append(f"at most {self.max_new_failures} newly failing checks")
        return ", ".join(limits)


DEFAULT_GATES = (
    Gate("ttft_s", max_increase=0.10),  # validated by benchmarks/gate_noise.py (README)
    Gate("decode_tokens_per_s", max_decrease=0.10),
    Gate("check_pass_rate", max_new_failures=0),
    Gate("peak_rss_bytes", max_increase=0.10),
    Gate("peak_gpu_memory_bytes", max_increase=0.10),  # judged only where a model ran on a GPU
)


@dataclass(frozen=True)
class Settings:
    gates: tuple[Gate, ...] = DEFAULT_GATES
    switch: tuple[Gate, ...] = DEFAULT_GATES
    min_effect: float = DEFAULT_MIN_EFFECT
    confidence: float = DEFAULT_CONFIDENCE
    inconclusive: str = DEFAULT_INCONCLUSIVE  # "pass" or "fail": a gate the statistics cannot settle
    baseline: Path = field(default_factory=lambda: Path(DEFAULT_BASELINE))
    # Request limits by name (bakeoff.measure.client.Limits' fields; inputs never import measuring):
    # an int or a float each, as the field takes it; Limits checks each value.
    limits: dict[str, Any] = field(default_factory=dict)
    launches: int = DEFAULT_LAUNCHES
    warmup: int = 0


def load_settings(pyproject: Path) -> Settings:
    """The `[tool.bakeoff]` table, validated; defaults when the file or the table is absent."""
    pyproject = Path(pyproject)
    if not pyproject.exists():
        return Settings()
    tool = read_document(pyproject, "TOML").get("tool", {})
    if not isinstance(tool, dict):
        raise BakeoffError(f"{pyproject}: top level: field 'tool': must be a table, not {type(tool).__name__}")
    table = tool.get("bakeoff", {})
    if not isinstance(table, dict):
        raise BakeoffError(
            f"{pyproject}: [tool]: field 'bakeoff': must be the table [tool.bakeoff], not {type(table).__name__}"
        )

    def locate(path):
        if len(path) >= 2 and path[0] in ("gates", "switch"):
            return f"[[tool.bakeoff.{path[0]}]] entry {path[1]}", path[2:]
        if len(path) >= 1 and path[0] == "limits":
            return "[tool.bakeoff.limits]", path[1:]
        return "[tool.bakeoff]", path

    validate(table, "config.schema.json", where=str(pyproject), locate=locate)
    gates = _gates(table.get("gates"), "gates", pyproject)
    switch = _gates(table.get("switch"), "switch", pyproject)
    return Settings(
        gates=DEFAULT_GATES if gates is None else gates,
        switch=switch if switch is not None else (DEFAULT_GATES if gates is None else gates),
        min_effect=table.get("min_effect", DEFAULT_MIN_EFFECT),
        confidence=table.get("confidence", DEFAULT_CONFIDENCE),
        inconclusive=table.get("inconclusive", DEFAULT_INCONCLUSIVE),
        baseline=pyproject.parent / table.get("baseline", DEFAULT_BASELINE),
        limits=table.get("limits", {}),
        launches=table.get("launches", DEFAULT_LAUNCHES),
        warmup=table.get("warmup", 0),
    )


def _gates(items: list[dict] | None, key: str, pyproject: Path) -> tuple[Gate, ...] | None:
    if items is None:
        return None
    gates = []
    for index, item in enumerate(items):
        gate = Gate(**{f.name: item[f.name] for f in fields(Gate) if f.name in item})
        where = f"{pyproject}: [[tool.bakeoff.{key}]] entry {index} ({gate.metric})"
        if not gate.describe():
            raise BakeoffError(f"{where}: needs a limit: max_increase, max_decrease, max, min or max_new_failures")
        gated = metric_keys(compared=True)
        if gate.metric not in gated:
            entry = f"{pyproject}: [[tool.bakeoff.{key}]] entry {index}"
            raise BakeoffError(f"{entry}: field 'metric': {gate.metric!r} is not one of {', '.join(gated)}")
        if gate.max_new_failures is not None and gate.metric != "check_pass_rate":
            raise BakeoffError(f"{where}: field 'max_new_failures': only applies to metric check_pass_rate")
        if gate.prompt is not None and METRICS[gate.metric].per == "model":
            raise BakeoffError(f"{where}: field 'prompt': {gate.metric} is measured per model, not per prompt")
        gates.append(gate)
    return tuple(gates)

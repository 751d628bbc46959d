"""Comparing two runs (or two models): per model x prompt and metric, a change and a verdict.

Verdicts are four: better, worse, no change (the interval within +-min_effect) and inconclusive
(with the launches a side that would likely settle it). Timing figures count server launches as
the unit of repetition (`stats.compare_launches`); per-prompt rows control the false discovery
rate over the model's prompts x metrics; pass rates over all prompts are paired by prompt.

`compare_reports(baseline, candidate)` returns a `Comparison` of plain data (`to_dict()`),
with every gate judged; `comparison_advice(comparison)` says in plain words what to do with it.
`compare_switch(reports, from_model, to_model)` answers "may we switch from A to B?".
Reports are `bakeoff.report.model.Report`s (`bakeoff.report.store.load_report` reads them);
nothing here reads files. Metrics, their labels and which way is better come from
`bakeoff.metrics`.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, fields

from bakeoff.decide.agreement import agreement
from bakeoff.decide.gates import GateOutcome, gate_for, judge_gate
from bakeoff.decide.pairwise import PairwiseResult
from bakeoff.decide.stats import (
    Cells,
    Estimate,
    Noise,
    compare_launches,
    compare_proportions,
    false_discovery_adjusted,
    launch_noise,
    launches_to_settle,
    mcnemar_p_value,
    paired_p_value,
)
from bakeoff.inputs.registry import GIB
from bakeoff.inputs.settings import Gate, Settings
from bakeoff.metrics import METRICS, change_text, metric_keys
from bakeoff.report.model import Environment, ModelRecord, PromptResult, Report

BETTER, WORSE, SAME, INCONCLUSIVE, NOT_COMPARED = "better", "worse", "no change", "inconclusive", "not compared"
# Fewer samples than this on a side, and a prompt's interval says nothing worth printing.
FEW_SAMPLES = 5


@dataclass
class Row:
    model: str
    runtime: str
    prompt: str | None  # None: the model over all the prompts both sides ran
    metric: str
    # The prompt's median (over all prompts: the geometric mean of the prompts' medians), the
    # single figure (peak RSS), or the share of check outcomes that passed.
    baseline: float | None = None
    candidate: float | None = None
    change: float | None = None  # relative (candidate/baseline - 1), or a difference for pass rates
    change_kind: str = "relative"  # "relative" or "points"
    low: float | None = None  # confidence interval of the change
    high: float | None = None
    detectable: bool | None = None  # the statistics tell the change from noise; None: no test (one figure)
    p_value: float | None = None
    q_value: float | None = (
        None  # per prompt: p adjusted for the false discovery rate over the model's prompts x metrics
    )
    verdict: str = NOT_COMPARED
    n_baseline: int = 0
    n_candidate: int = 0
    launches: tuple[int, int] | None = None  # (baseline, candidate) launches the timing figures came from
    # Where the noise is (timing rows): standard deviations on the log scale, about relative.
    between_launch_sd: float | None = None
    within_launch_sd: float | None = None
    launch_sd: float | None = (
        None  # of a launch's summary as repeated in these runs (both together): what the test goes on
    )
    launches_to_settle: int | None = None  # an inconclusive row: launches a side that would likely settle it
    new_failures: list[str] = field(default_factory=list)
    # New failures that passed every attempt before and fail every attempt now: a change, not a flaky check.
    consistent_failures: list[str] = field(default_factory=list)
    note: str = ""
    gate: GateOutcome | None = None

    @property
    def label(self) -> str:
        return METRICS[self.metric].label

    @property
    def who(self) -> str:
        return f"{self.model} ({self.runtime})"

    @property
    def too_few_samples(self) -> bool:
        """A prompt's interval from a handful of samples or one launch: printed as "too few samples"."""
        if self.prompt is None or self.launches is None or self.verdict != INCONCLUSIVE:
            return False
        return min(self.n_baseline, self.n_candidate) < FEW_SAMPLES or min(self.launches) < 2

    def change_text(self) -> str:
        if self.too_few_samples:
            return "too few samples"
        return change_text(self.change, self.change_kind, self.low, self.high)

    @property
    def ratio(self) -> float | None:
        return None if self.change is None or self.change_kind != "relative" else 1 + self.change

    @property
    def gate_failed(self) -> bool:
        return self.gate_failure is not None

    @property
    def gate_failure(self) -> str | None:
        """Why the row's gate failed; None when it passed, could not judge, or there is no gate."""
        return self.gate.reason if self.gate is not None and self.gate.passed is False else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["gate"] = self.gate.to_dict() if self.gate else None
        data["label"] = self.label
        data["launches"] = list(self.launches) if self.launches else None
        return data


@dataclass
class Comparison:
    baseline_run: str
    candidate_run: str
    rows: list[Row]
    warnings: list[str]  # said loudly: different hardware, runtime versions or weights; incomplete runs
    notes: list[str]  # what could not be compared, and why
    model_failures: list[str]  # models that ran in the baseline and failed in the candidate
    like_for_like: bool = True  # same hardware, runtimes and weights on both sides
    # How far each run's judge agrees with its human ratings:
    # {run: "baseline"|"candidate", criterion, alpha, answers, text}.
    agreement: list[dict] = field(default_factory=list)

    def failed_gates(self) -> list[Row]:
        return [row for row in self.rows if row.gate_failed]

    @property
    def failed(self) -> bool:
        return bool(self.model_failures or self.failed_gates())

    def to_dict(self) -> dict:
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rows"}
        return {
            **plain,
            "failed": self.failed,
            "rows": [row.to_dict() for row in self.rows],
            "recommendation": comparison_advice(self),
        }


def compare_reports(baseline: Report, candidate: Report, settings: Settings | None = None) -> Comparison:
    """Every model both reports ran, keyed by (name, runtime), judged against `settings.gates`."""
    settings = settings or Settings()
    cand_models = {m.key: m for m in candidate.models}
    base_keys = {m.key for m in baseline.models}
    rows, notes, model_failures = [], [], []
    for base in baseline.models:
        cand = cand_models.get(base.key)
        who = _who(base)
        if base.status != "ran":
            continue
        if cand is None or cand.status in ("skipped", "not_run"):
            notes.append(f"{who}: ran in the baseline, not in the candidate ({cand.reason if cand else 'absent'})")
        elif cand.status == "failed":
            model_failures.append(f"{who}: ran in the baseline, failed in the candidate: {cand.reason}")
        else:
            model_rows, model_notes = compare_models(base, cand, settings, settings.gates)
            rows += model_rows
            notes += model_notes
    notes += [
        f"{_who(c)}: not in the baseline, nothing to compare with"
        for c in candidate.models
        if c.key not in base_keys and c.status == "ran"
    ]
    return _comparison(baseline, candidate, rows, notes, model_failures)


def _comparison(
    baseline: Report, candidate: Report, rows: list[Row], notes: list[str], model_failures: list[str]
) -> Comparison:
    setup = environment_warnings(baseline, candidate) if baseline is not candidate else []
    shared = shared_host_warnings(baseline, candidate, rows)
    warnings = setup + shared + status_warnings(baseline, candidate)
    agreements = [
        {"run": side, "criterion": a.criterion, "alpha": a.alpha, "answers": a.answers, "text": a.text}
        for side, report in (("baseline", baseline), ("candidate", candidate))
        for a in agreement(report)
    ]
    return Comparison(
        baseline.run_id, candidate.run_id, rows, warnings, notes, model_failures, not (setup or shared), agreements
    )


def shared_host_warnings(baseline: Report, candidate: Report, rows: list[Row]) -> list[str]:
    """A report whose workers measured on one machine at once (`distribution.shared_host`) is not
    like for like in its timings: their gates are left unjudged; checks and memory still are."""
    sides = {id(report): (side, report) for side, report in (("baseline", baseline), ("candidate", candidate))}
    shared = [side for side, report in sides.values() if report.distribution and report.distribution.shared_host]
    if not shared:
        return []
    for row in rows:
        if METRICS[row.metric].per == "sample" and row.gate is not None:
            row.gate = GateOutcome(row.gate.limit, None, "not judged: timed while workers shared a host")
    return [
        f"the {side} report's workers shared a host: its timings are not like for like (timing gates not judged)"
        for side in shared
    ]


def _who(model: ModelRecord) -> str:
    return f"{model.name} ({model.runtime})"


def compare_models(
    base: ModelRecord, cand: ModelRecord, settings: Settings, gates: tuple[Gate, ...]
) -> tuple[list[Row], list[str]]:
    """Rows for candidate model record `cand` against `base`, over the prompts both ran."""
    name, runtime = cand.key
    base_prompts = {p.id: p for p in base.prompts}
    cand_prompts = {p.id: p for p in cand.prompts}
    shared = [pid for pid in base_prompts if pid in cand_prompts]
    notes = [
        f"{_who(cand)}: prompt {pid} only in the {side}"
        for side, mine, other in (("baseline", base_prompts, cand_prompts), ("candidate", cand_prompts, base_prompts))
        for pid in mine
        if pid not in other
    ]
    rows = []
    pairs = [(base_prompts[pid], cand_prompts[pid]) for pid in shared]
    timing = metric_keys(per="sample", compared=True)
    # Human and judge scores alike: paired by prompt, over the prompts scored on both sides.
    scored = {
        metric: [
            (pid, pair) for pid, pair in zip(shared, pairs, strict=True) if None not in map(METRICS[metric].of, pair)
        ]
        for metric in metric_keys(compared=True, test="paired")
    }
    for metric in timing:
        rows.append(_timing_row(name, runtime, None, metric, pairs, settings))
    for metric in (key for key in metric_keys(per="sample") if METRICS[key].cold):
        cold = _cold_row(name, runtime, metric, pairs, settings)
        if cold:
            rows.append(cold)
    for metric in metric_keys(compared=True, test="once"):
        figures = METRICS[metric].of(base), METRICS[metric].of(cand)
        if figures != (None, None):  # a row only where a side measured it (a GPU, a power sensor)
            rows.append(_single_row(name, runtime, metric, *figures, settings))
    for metric in metric_keys(compared=True, test="passes"):
        rows.append(_pass_rate_row(name, runtime, None, metric, pairs, settings))
    for metric, found in scored.items():
        if found:
            rows.append(_score_row(name, runtime, None, metric, [pair for _, pair in found], settings))
    per_prompt = []
    for pid, pair in zip(shared, pairs, strict=True):
        for metric in timing:
            per_prompt.append(_timing_row(name, runtime, pid, metric, [pair], settings))
        for metric in metric_keys(compared=True, test="passes"):
            per_prompt.append(_pass_rate_row(name, runtime, pid, metric, [pair], settings))
        for metric, found in scored.items():
            if pid in dict(found):
                per_prompt.append(_score_row(name, runtime, pid, metric, [pair], settings))
    _control_false_discoveries(per_prompt, settings)
    rows += per_prompt
    for row in rows:
        gate = gate_for(gates, row.metric, name, runtime, row.prompt)
        row.gate = (
            judge_gate(gate, row, inconclusive_fails=settings.inconclusive == "fail", confidence=settings.confidence)
            if gate
            else None
        )
    return rows, notes


Pairs = list[tuple[PromptResult, PromptResult]]


def launch_cells(prompts: list[PromptResult], metric: str) -> Cells:
    """A per-sample metric's values by (prompt, launch), from the samples that count in it (warm
    ones, or a cold metric's first request after each load). Samples of reports made before
    launches were recorded all count as launch 0."""
    cells: Cells = {}
    for prompt in prompts:
        for sample in prompt.samples:
            value = METRICS[metric].of(sample)
            if value is not None:
                cells.setdefault((prompt.id, sample.launch or 0), []).append(value)
    return cells


def run_noise(record: ModelRecord) -> dict[str, Noise]:
    """Where one run's timing noise is for a model, per timing figure that has samples: between
    its server's launches, or between requests within a launch (cold TTFT: launches only)."""
    timing = metric_keys(per="sample", compared=True) + tuple(k for k in metric_keys(per="sample") if METRICS[k].cold)
    found = {metric: launch_noise(launch_cells(record.prompts, metric)) for metric in timing}
    return {metric: noise for metric, noise in found.items() if noise is not None}


def _timing_row(name, runtime, prompt_id, metric, pairs: Pairs, settings: Settings) -> Row:
    """Ratio of medians with launches as the unit of repetition (`stats.compare_launches`)."""
    row = Row(name, runtime, prompt_id, metric)
    estimate = compare_launches(
        launch_cells([b for b, _ in pairs], metric),
        launch_cells([c for _, c in pairs], metric),
        confidence=settings.confidence,
    )
    if estimate is None:
        row.note = "no samples on one side" if pairs else "no prompt in common"
        return row
    values = METRICS[metric].values
    _fill_from_estimate(row, estimate, settings, medians=[(values(b.samples), values(c.samples)) for b, c in pairs])
    return row


def _cold_row(name, runtime, metric, pairs: Pairs, settings: Settings) -> Row | None:
    """A cold metric (cold-start TTFT: the first request after each load), when both sides recorded it."""
    base = launch_cells([b for b, _ in pairs], metric)
    cand = launch_cells([c for _, c in pairs], metric)
    if not base or not cand:
        return None
    row = Row(name, runtime, None, metric)
    estimate = compare_launches(base, cand, confidence=settings.confidence)
    if estimate is None:
        row.note = "no cold samples on one side"
        return row
    pooled_base, pooled_cand = ([value for values in cells.values() for value in values] for cells in (base, cand))
    _fill_from_estimate(row, estimate, settings, medians=[(pooled_base, pooled_cand)])
    return row


def _fill_from_estimate(
    row: Row, estimate: Estimate, settings: Settings, medians: list[tuple[list[float], list[float]]]
) -> None:
    usable = [(b, c) for b, c in medians if b and c]
    if usable:
        row.baseline = statistics.geometric_mean(statistics.median(b) for b, _ in usable)
        row.candidate = statistics.geometric_mean(statistics.median(c) for _, c in usable)
    row.n_baseline, row.n_candidate = estimate.samples
    row.launches = estimate.launches
    row.change = change = estimate.ratio - 1
    row.between_launch_sd, row.within_launch_sd, row.launch_sd = (
        estimate.between_sd,
        estimate.within_sd,
        estimate.launch_sd,
    )
    if estimate.low is None or estimate.high is None or estimate.p_value is None:
        row.note = "one launch a side: launch-to-launch noise unknown (run with more launches)"
        row.verdict = INCONCLUSIVE
        return
    low, high = estimate.low - 1, estimate.high - 1
    row.low, row.high, row.p_value = low, high, estimate.p_value
    row.detectable = detectable = estimate.p_value < 1 - settings.confidence
    row.verdict = _verdict(row.metric, change, low, high, detectable, settings.min_effect)
    if row.verdict == INCONCLUSIVE:
        row.launches_to_settle = launches_to_settle(estimate, settings.min_effect, confidence=settings.confidence)


def _single_row(name, runtime, metric, base_value, cand_value, settings: Settings) -> Row:
    """A figure measured once per model and run (peak RSS): no samples, so no interval; the change is the change."""
    row = Row(name, runtime, None, metric, base_value, cand_value, n_baseline=1, n_candidate=1)
    if not base_value or cand_value is None:
        row.note = "not measured on one side"
        return row
    row.change = cand_value / base_value - 1
    row.verdict = SAME if abs(row.change) < settings.min_effect else _direction(metric, row.change)
    return row


def _pass_rate_row(name, runtime, prompt_id, metric, pairs: Pairs, settings: Settings) -> Row:
    """Check passes, plus checks whose pass/fail flipped. Over all prompts the prompts are the
    pairs (exact McNemar test on the prompts whose outcome flipped); a single prompt's attempts
    cannot be paired (Fisher's exact test)."""
    counts = [0, 0, 0, 0]
    new_failures, new_passes, consistent = [], [], []
    for base_prompt, cand_prompt in pairs:
        for index, prompt in ((0, base_prompt), (2, cand_prompt)):
            outcomes = [c.passed for s in prompt.samples for c in s.checks]
            counts[index] += sum(outcomes)
            counts[index + 1] += len(outcomes)
        cand_checks = {c.check: c.passed for c in cand_prompt.checks}
        for check in base_prompt.checks:
            now = cand_checks.get(check.check)
            where = check.check if prompt_id else f"{base_prompt.id}: {check.check}"
            if check.passed and now is False:
                new_failures.append(where)
                if (
                    _attempt_passes(base_prompt, check.check) == (len(base_prompt.samples), 0)
                    and _attempt_passes(cand_prompt, check.check)[0] == 0
                ):
                    consistent.append(where)
            elif not check.passed and now:
                new_passes.append(where)
    row = Row(
        name,
        runtime,
        prompt_id,
        metric,
        change_kind="points",
        new_failures=new_failures,
        consistent_failures=consistent,
    )
    row.n_baseline, row.n_candidate = counts[1], counts[3]
    change = compare_proportions(*counts)
    if change is None:
        row.note = "no check outcomes on one side"
        return row
    row.baseline, row.candidate, row.change = change.baseline, change.candidate, change.difference
    if prompt_id is None:
        flipped_down = sum(b.passed and not c.passed for b, c in pairs)
        flipped_up = sum(c.passed and not b.passed for b, c in pairs)
        row.p_value = mcnemar_p_value(flipped_down, flipped_up)
        row.note = (
            f"prompts paired: {flipped_down} newly failing, {flipped_up} newly passing "
            f"(exact McNemar p = {row.p_value:.2g})"
        )
    else:
        row.p_value = change.p_value
    row.detectable = row.p_value < 1 - settings.confidence
    if row.detectable and row.change:
        row.verdict = _direction(metric, row.change)
    elif not (new_failures or new_passes) and row.change == 0:
        row.verdict = SAME
    else:
        row.verdict = INCONCLUSIVE
    if new_passes:
        row.note = "; ".join(filter(None, [row.note, f"newly passing: {'; '.join(new_passes)}"]))
    return row


def _attempt_passes(prompt: PromptResult, check: str) -> tuple[int, int]:
    """(attempts that passed, attempts that failed) one check."""
    outcomes = [c.passed for s in prompt.samples for c in s.checks if c.check == check]
    return sum(outcomes), len(outcomes) - sum(outcomes)


def _score_row(name, runtime, prompt_id, metric, pairs: Pairs, settings: Settings) -> Row:
    """Human or judge scores, paired by prompt: over several prompts Wilcoxon's signed-rank test
    tells a change from noise; a single prompt has one score a side, shown but not tested."""
    read = METRICS[metric].of
    scores = [(b, c) for b, c in ((read(bp), read(cp)) for bp, cp in pairs) if b is not None and c is not None]
    base, cand = [b for b, _ in scores], [c for _, c in scores]
    row = Row(name, runtime, prompt_id, metric, n_baseline=len(base), n_candidate=len(cand))
    row.baseline, row.candidate = statistics.fmean(base), statistics.fmean(cand)
    row.change = row.candidate / row.baseline - 1
    if base == cand:
        row.verdict = SAME
        return row
    row.p_value = paired_p_value(base, cand)
    if row.p_value is None:
        row.note = "one rated prompt: not tested"
        row.verdict = INCONCLUSIVE
        return row
    row.detectable = row.p_value < 1 - settings.confidence
    row.verdict = (
        _direction(metric, row.change) if row.detectable and abs(row.change) >= settings.min_effect else INCONCLUSIVE
    )
    return row


def _control_false_discoveries(rows: list[Row], settings: Settings) -> None:
    """Per-prompt rows are many tests at once (prompts x metrics): a change counts as detected
    only when its Benjamini-Hochberg adjusted p-value is below alpha."""
    tested = [(row, row.p_value) for row in rows if row.p_value is not None]
    for (row, _), q_value in zip(tested, false_discovery_adjusted([p_value for _, p_value in tested]), strict=True):
        row.q_value = q_value
        was_detected = row.detectable
        row.detectable = q_value < 1 - settings.confidence
        if was_detected and not row.detectable and row.verdict in (BETTER, WORSE):
            row.verdict = INCONCLUSIVE


def _verdict(metric: str, change: float, low: float, high: float, detectable: bool, min_effect: float) -> str:
    """Better or worse: a detected change of at least `min_effect` (a factor and significance,
    as asv asks). No change: the whole interval within +-`min_effect` (equivalence, Pinpoint's
    "same"). Anything else needs more data."""
    if -min_effect < low and high < min_effect:
        return SAME
    if detectable and abs(change) >= min_effect:
        return _direction(metric, change)
    return INCONCLUSIVE


def _direction(metric: str, change: float) -> str:
    return BETTER if (change < 0) == METRICS[metric].lower_is_better else WORSE


def environment_warnings(baseline: Report, candidate: Report) -> list[str]:
    """What makes two reports not like for like; timing and memory then compare machines, not runs.
    A model that carries its own machine on both sides (a merged report's do) is compared on those:
    the report's own environment is only its first part's."""
    cand_models = {m.key: m for m in candidate.models}
    pairs = [
        (base_model, cand_models[base_model.key]) for base_model in baseline.models if base_model.key in cand_models
    ]
    own = [
        (base, base.environment, cand.environment)
        for base, cand in pairs
        if base.environment is not None and cand.environment is not None
    ]
    warnings = []
    if len(own) < len(pairs) or not pairs:
        warnings += _machine_warnings(baseline.environment, candidate.environment)
    for base, base_env, cand_env in own:
        warnings += [
            f"{base.name}: {warning}" for warning in _machine_warnings(base_env, cand_env, runtime=base.runtime)
        ]
    for base_model, cand_model in pairs:
        for field_name, label in (("weights_sha256", "weights"), ("model_id", "model id")):
            before, after = getattr(base_model, field_name), getattr(cand_model, field_name)
            if before and after and before != after:
                warnings.append(f"{base_model.name}: different {label}: {before} -> {after}")
    return warnings


def _machine_warnings(base_env: Environment, cand_env: Environment, runtime: str | None = None) -> list[str]:
    """Hardware, OS, Python and runtime versions that differ; of `runtime` only, when given."""
    warnings = []
    for field_name, label in (
        ("cpu", "CPU"),
        ("cpu_count", "CPU count"),
        ("ram_gb", "RAM GB"),
        ("os", "OS"),
        ("python", "Python"),
    ):
        if getattr(base_env, field_name) != getattr(cand_env, field_name):
            warnings.append(f"different {label}: {getattr(base_env, field_name)} -> {getattr(cand_env, field_name)}")
    gpus = [
        [a.name for a in env.accelerators] for env in (base_env, cand_env) if env.accelerators or env.accelerator_note
    ]
    if len(gpus) == 2 and gpus[0] != gpus[1]:  # both looked (reports before GPU discovery did not)
        warnings.append(f"different GPU: {', '.join(gpus[0]) or 'none'} -> {', '.join(gpus[1]) or 'none'}")
    base_rt, cand_rt = base_env.runtimes, cand_env.runtimes
    for key in sorted(base_rt.keys() & cand_rt.keys()):
        if base_rt[key] != cand_rt[key] and runtime in (None, key):
            warnings.append(f"different {key} runtime version: {base_rt[key]} -> {cand_rt[key]}")
    return warnings


def status_warnings(baseline: Report, candidate: Report) -> list[str]:
    return [
        f"the {side} report is incomplete: {report.incomplete_reason}"
        for side, report in (("baseline", baseline), ("candidate", candidate))
        if report.status != "complete"
    ]


# --- Model switch ---------------------------------------------------------------------------


@dataclass
class Switch:
    """May we switch from model A to model B? The comparison of B against A, and the reasons."""

    from_model: str
    to_model: str
    comparison: Comparison
    reasons: list[str]  # why not; empty when the switch is fine
    checked: list[str]  # what was checked and held
    unsettled: list[str] = field(default_factory=list)  # gates the statistics could not settle (and did not fail)
    pairwise: PairwiseResult | None = None  # `bakeoff gate --pairwise`: a judge's preferences; informs, gates nothing

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict:
        return {
            "from": self.from_model,
            "to": self.to_model,
            "allowed": self.allowed,
            "reasons": self.reasons,
            "checked": self.checked,
            "unsettled": self.unsettled,
            "comparison": self.comparison.to_dict(),
            "recommendation": switch_advice(self),
            **({"pairwise": self.pairwise.to_dict()} if self.pairwise else {}),
        }


def find_model(reports: list[Report], spec: str) -> tuple[Report, ModelRecord]:
    """The (report, model record) for `NAME` or `NAME@RUNTIME`; later reports win. KeyError if absent."""
    name, _, runtime = spec.partition("@")
    found = None
    for report in reports:
        matches = [m for m in report.models if m.name == name and runtime in ("", m.runtime)]
        ran = [m for m in matches if m.status == "ran"] or matches
        if len({m.runtime for m in ran}) > 1:
            raise KeyError(f"{name} ran on several runtimes ({', '.join(m.runtime for m in ran)}); say NAME@RUNTIME")
        if ran:
            found = (report, ran[0])
    if found is None:
        raise KeyError(f"model {spec} is in none of the reports")
    return found


def compare_switch(
    reports: list[Report],
    from_spec: str,
    to_spec: str,
    settings: Settings | None = None,
    *,
    ram_gb: float | None = None,
    min_ram_gb: float | None = None,
) -> Switch:
    """Judge model B (`to_spec`) against model A (`from_spec`) on the prompts both ran.

    `ram_gb` is the RAM of the target machine (default: the machine of B's report) and
    `min_ram_gb` B's requirement from models.json.
    """
    settings = settings or Settings()
    base_report, base = find_model(reports, from_spec)
    cand_report, cand = find_model(reports, to_spec)
    label_a, label_b = _who(base), _who(cand)
    reasons = [f"{_who(record)} did not run: {record.reason}" for record in (base, cand) if record.status != "ran"]
    rows, notes = compare_models(base, cand, settings, settings.switch) if not reasons else ([], [])
    comparison = _comparison(base_report, cand_report, rows, notes, [])
    if rows and not any(row.prompt for row in rows):
        reasons.append(f"{label_a} and {label_b} ran no prompt in common")
    for row in comparison.failed_gates():
        scope = f" on {row.prompt}" if row.prompt else ""
        reasons.append(f"{row.label}{scope}: {row.gate_failure}")
    checked = sorted(
        {
            f"{row.label} ({row.gate.limit})"
            for row in rows
            if row.gate and row.gate.passed and not row.gate.inconclusive
        }
    )
    unsettled = sorted(
        {f"{row.label} ({row.gate.limit})" for row in rows if row.gate and row.gate.passed and row.gate.inconclusive}
    )
    ram_gb = ram_gb if ram_gb is not None else cand_report.environment.ram_gb
    for fits, text in _memory_checks(label_b, min_ram_gb, cand.peak_rss_bytes, ram_gb):
        (checked if fits else reasons).append(text)
    return Switch(label_a, label_b, comparison, reasons, checked, unsettled)


def _memory_checks(label: str, min_ram_gb: float | None, peak: int | None, ram_gb: float) -> list[tuple[bool, str]]:
    """(fits, what was found) for the RAM models.json asks and the peak RSS measured."""
    found = []
    if min_ram_gb is not None:
        fits = min_ram_gb <= ram_gb
        found.append(
            (
                fits,
                f"needs {min_ram_gb:g} GB RAM of {ram_gb:g} GB"
                if fits
                else f"{label} needs {min_ram_gb:g} GB RAM (models.json); the machine has {ram_gb:g} GB",
            )
        )
    if peak is not None:
        fits = peak / GIB <= ram_gb
        found.append(
            (
                fits,
                f"peak RSS {peak / GIB:.1f} GB fits in {ram_gb:g} GB"
                if fits
                else f"{label} peaked at {peak / GIB:.1f} GB RSS; the machine has {ram_gb:g} GB",
            )
        )
    return found


# --- Plain words ------------------------------------------------------------------------------


def describe_row(row: Row) -> str:
    scope = f" on {row.prompt}" if row.prompt else ""
    change = change_text(row.change, row.change_kind) if row.change is not None else "not compared"
    failure = row.gate_failure
    return f"{row.who}: {row.label}{scope}: {change if failure is None else failure}"


def comparison_advice(comparison: Comparison) -> str:
    """What to do with a candidate run, in a sentence or three."""
    caveat = (
        "These reports were not taken on the same machine and runtime, so timing and memory "
        "changes may come from that rather than from the models. "
        if not comparison.like_for_like
        else ""
    )
    if comparison.failed:
        problems = comparison.model_failures + [describe_row(r) for r in comparison.failed_gates()]
        return (
            f"{caveat}Do not accept this run: it regressed against the baseline. "
            + " ".join(f"{p}." for p in problems)
            + " Find the cause; if the change is intended, make this run the baseline with `bakeoff baseline promote`."
        )
    unsettled = [r for r in comparison.rows if r.gate and r.gate.inconclusive and r.prompt is None]
    if unsettled:
        return (
            f"{caveat}No gate failed, but the statistics could not settle "
            + "; ".join(f"{r.who}: {r.label}" for r in unsettled)
            + ". Serve each model more times per run ([tool.bakeoff] launches) to settle them."
        )
    worse = [r for r in comparison.rows if r.verdict == WORSE and r.prompt is None]
    if worse:
        return (
            f"{caveat}No gate failed, but some figures got detectably worse within their limits: "
            + "; ".join(describe_row(r) for r in worse)
            + ". Keep an eye on them."
        )
    if not comparison.rows:
        return f"{caveat}Nothing was compared: no model ran in both reports."
    return f"{caveat}No gate failed and nothing got detectably worse: the candidate holds up against the baseline."


def switch_advice(switch: Switch) -> str:
    if switch.allowed and switch.unsettled:
        return (
            f"Nothing speaks against switching from {switch.from_model} to {switch.to_model}, but the statistics "
            f"could not settle {', '.join(switch.unsettled)}: serve each model more times per run "
            f"([tool.bakeoff] launches) before relying on those figures."
        )
    if switch.allowed:
        return (
            f"Yes, switch from {switch.from_model} to {switch.to_model}: it keeps every check the current "
            f"model passed, stays within the latency and memory budgets and fits in memory."
        )
    return f"Do not switch from {switch.from_model} to {switch.to_model}: " + "; ".join(switch.reasons) + "."

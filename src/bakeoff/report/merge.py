"""Merging reports into one: the parts of a distributed run (what each xdist worker measured), or
the reports of separate jobs (a CI matrix, several machines). The result reads, compares, gates
and renders as a serial run's report does.

What cannot be merged is refused with one line (`MergeRefused`): reports of different report
schemas, of different prompts (the prompt source's kind and digest), or holding the same model x runtime
twice. What a reader must know is kept in the result: each model's machine
(`ModelRecord.environment`), and in `distribution` the parts, whether two of them measured on one
machine at the same time (`shared_host`: their timings disturbed each other), and models measured
on different machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bakeoff.errors import BakeoffError
from bakeoff.report.model import SCHEMA, Distribution, ModelRecord, PromptSourceRecord, Report, Worker
from bakeoff.report.store import new_run_id, parse_report, read_report_data

# What makes two machines measure differently; the host name alone does not (two CI runners of one kind).
HARDWARE = ("cpu", "cpu_count", "ram_gb", "os")


class MergeRefused(BakeoffError):
    """The reports cannot make one report; the message says which and why."""


@dataclass
class Part:
    """A report to merge, with where it came from (for messages) and the schema it was stored in."""

    report: Report
    source: str
    schema: str = SCHEMA
    worker: str | None = None  # the xdist worker that measured it; None: a report of its own


def read_part(path: Path) -> Part:
    """A stored report to merge, any version (its stored schema is kept: mixed versions are refused)."""
    data = read_report_data(path)
    schema = data.get("schema") if isinstance(data, dict) else None
    return Part(parse_report(data, where=str(path)), str(path), schema=str(schema))


def label(model: ModelRecord) -> str:
    return f"{model.name}@{model.runtime}"


def merge(parts: list[Part], *, run_id: str | None = None) -> Report:
    """One report of every model in `parts`, each carrying the machine it ran on."""
    if not parts:
        raise MergeRefused("nothing to merge")
    _refuse_mixed_schemas(parts)
    _refuse_mixed_prompts(parts)
    models: list[ModelRecord] = []
    where: dict[tuple[str, str], str] = {}
    for part in parts:
        for model in part.report.models:
            if model.key in where:
                raise MergeRefused(
                    f"{part.source}: {label(model)} is also in {where[model.key]}; "
                    "a model x runtime is merged from one report only"
                )
            where[model.key] = part.source
            models.append(model.model_copy(update={"environment": model.environment or part.report.environment}))
    first = parts[0].report
    environment = first.environment.model_copy(deep=True)
    for part in parts[1:]:
        for runtime, runtime_version in part.report.environment.runtimes.items():
            environment.runtimes.setdefault(runtime, runtime_version)
    incomplete = [
        f"{part.source}: {part.report.incomplete_reason}" for part in parts if part.report.status != "complete"
    ]
    finished = [part.report.finished_at for part in parts if part.report.finished_at is not None]
    shared = _shared_hosts(parts)
    return Report(
        run_id=run_id or new_run_id(),
        status="incomplete" if incomplete else "complete",
        incomplete_reason="; ".join(incomplete) or None,
        started_at=min(part.report.started_at for part in parts),
        finished_at=max(finished) if len(finished) == len(parts) else None,  # None: a part never finished
        registry=first.registry,
        prompt_source=first.prompt_source,
        environment=environment,
        distribution=Distribution(
            workers=[worker for part in parts for worker in _workers(part)],
            shared_host=bool(shared) or any(p.report.distribution and p.report.distribution.shared_host for p in parts),
            notes=shared + _machine_notes(models) + _runtime_notes(parts),
        ),
        models=models,
    ).checked()


def _refuse_mixed_schemas(parts: list[Part]) -> None:
    first = parts[0]
    for part in parts[1:]:
        if part.schema != first.schema:
            raise MergeRefused(
                f"{part.source} is a {part.schema} report and {first.source} a {first.schema} one; "
                "merge reports of one schema version"
            )


def _refuse_mixed_prompts(parts: list[Part]) -> None:
    sources = []
    for part in parts:
        source = part.report.prompt_source
        if source is None or source.sha256 is None:
            raise MergeRefused(
                f"{part.source} does not record its prompts' digest (made by an older bakeoff): "
                "cannot tell its prompts are the same"
            )
        sources.append(source)
    first = sources[0]
    for part, source in zip(parts[1:], sources[1:], strict=True):
        # The name is left out: one file has other paths on other machines.
        if (source.kind, source.sha256) != (first.kind, first.sha256):
            raise MergeRefused(
                f"{part.source} was run with other prompts than {parts[0].source} "
                f"({_described(source)} vs {_described(first)})"
            )


def _described(source: PromptSourceRecord) -> str:
    return f"{source.kind} {source.name} sha256 {str(source.sha256)[:12]}"


def _workers(part: Part) -> list[Worker]:
    if part.report.distribution is not None and part.worker is None:
        return part.report.distribution.workers  # a merged report merged again: its own parts
    ran = [label(m) for m in part.report.models if m.status != "not_run"]
    return [Worker(id=part.worker or part.report.run_id, host=part.report.environment.host, models=ran)]


def _shared_hosts(parts: list[Part]) -> list[str]:
    """Parts that measured models on the same host at overlapping times: each disturbed the other's timings."""
    timed = [p for p in parts if p.report.environment.host and any(m.status != "not_run" for m in p.report.models)]
    notes = []
    for i, a in enumerate(timed):
        for b in timed[i + 1 :]:
            if a.report.environment.host == b.report.environment.host and _overlap(a.report, b.report):
                notes.append(
                    f"{a.worker or a.source} and {b.worker or b.source} measured at the same time on host "
                    f"{a.report.environment.host}: their timings are not like for like (their checks are)"
                )
    return notes


def _overlap(a: Report, b: Report) -> bool:
    def span(report: Report) -> tuple[datetime, datetime]:
        start = datetime.fromisoformat(report.started_at)
        return start, datetime.fromisoformat(report.finished_at) if report.finished_at else datetime.max.replace(
            tzinfo=start.tzinfo
        )

    (a_start, a_end), (b_start, b_end) = span(a), span(b)
    return a_start < b_end and b_start < a_end


def _machine_notes(models: list[ModelRecord]) -> list[str]:
    machines: dict[tuple, list[str]] = {}
    for model in models:
        if model.status != "not_run" and model.environment is not None:
            machine = tuple(getattr(model.environment, name) for name in HARDWARE)
            machines.setdefault(machine, []).append(label(model))
    if len(machines) < 2:
        return []
    described = "; ".join(
        f"{', '.join(labels)} on {cpu} ({cpus} CPUs, {ram_gb:g} GB RAM, {os})"
        for (cpu, cpus, ram_gb, os), labels in machines.items()
    )
    return [
        (
            f"models were measured on {len(machines)} different machines ({described}): "
            "their timings compare machines as well as models"
        )
    ]


def _runtime_notes(parts: list[Part]) -> list[str]:
    versions: dict[str, set[str]] = {}
    for part in parts:
        for runtime, runtime_version in part.report.environment.runtimes.items():
            versions.setdefault(runtime, set()).add(runtime_version)
    return [
        f"different {runtime} versions across the reports: {', '.join(sorted(v))}"
        for runtime, v in versions.items()
        if len(v) > 1
    ]

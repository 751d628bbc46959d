"""Running one model x runtime in a run (`ModelRun`), with no pytest in it.

`ModelRun` owns one model's record in the run report while the model is prepared, served and
measured, and moves its status explicitly:

    not_run -> skipped   it cannot run here (too little RAM, runtime missing, model unavailable)
    not_run -> failed    preparing, starting or measuring it crashed: the reason says how
    not_run -> ran       served and measured; -> failed if the server died during its tests, or
                         did not answer a request properly (`server_fault`: a timeout, a stall,
                         a cut-off or malformed stream, a bad figure), so it is never recommended

A crash is never recorded as a skip. The pytest plugin turns `ModelSkipped` and `ModelFailed`
into pytest's skip and fail; this module knows nothing of pytest.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psutil

from bakeoff import runtimes
from bakeoff.decide.evaluation import Verdict
from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt
from bakeoff.inputs.registry import ModelEntry
from bakeoff.measure.client import ChatClient, Limits, Sample, ServerFault
from bakeoff.measure.memory import MemorySampler, tree_cpu_seconds
from bakeoff.measure.redact import redact
from bakeoff.measure.telemetry import LaunchTelemetry, Telemetry
from bakeoff.measure.workload import Plan, Sequential, ServerStart, Workload
from bakeoff.report.model import CheckResult, LaunchRecord, Message, ModelRecord, PromptResult
from bakeoff.report.store import RunReport
from bakeoff.serving import serve_model
from bakeoff.weights import cache


class ModelSkipped(Exception):
    """The model cannot run on this machine; the record says why. Not a failure."""


class ModelFailed(Exception):
    """Preparing, starting or measuring the model went wrong; the record says how."""


@dataclass
class RunningModel:
    """One launch of a model's server: requests go to it through a workload (`bakeoff.measure.workload`),
    whose `ServerStart` marks the launch's first request cold and sends the `warmup` requests after it."""

    entry: ModelEntry
    url: str
    model_id: str
    pid: int | None  # None when there is no process to measure (an endpoint given without one)
    client: ChatClient
    launch: int = 0
    warmup: int = 0

    def __post_init__(self):
        self.start = ServerStart(self.launch, self.warmup)

    @property
    def name(self) -> str:
        return self.entry.name

    def workload(self, plan: Plan | None = None) -> Workload:
        """Requests to this launch, sent as `plan` says (one after another by default)."""
        return Workload(self.client, self.start, plan or Sequential())


def launch_repeats(repeats: int, launches: int, launch: int, offset: int = 0) -> int:
    """How many of a prompt's `repeats` run in `launch` of `launches`: repeat j runs in launch
    (j + offset) mod launches, so every prompt keeps its repeats, and prompts with fewer repeats
    than launches (offset: the prompt's position) are spread over the launches rather than all in
    the first."""
    return len([j for j in range(repeats) if (j + offset) % launches == launch])


class ModelRun:
    """One model x runtime in a session: its record in `report`, saved to `reports_dir` as it changes."""

    def __init__(
        self,
        report: RunReport,
        entry: ModelEntry,
        *,
        registry_path: Path,
        reports_dir: Path,
        progress: Callable[[str], None],
        foreground: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
        limits: Limits | None = None,
        warmup: int = 0,
    ):
        self.report = report
        self.entry = entry
        self.record: ModelRecord = report.model(entry)
        self.registry_path = registry_path
        self.reports_dir = reports_dir
        self.progress = progress
        self.foreground = foreground  # lets a long first-use step show its progress on the terminal
        self.limits = limits  # bounds on every request (None: the client's defaults)
        self.warmup = warmup  # requests after each launch's cold one that are not recorded
        self.server: runtimes.Server | None = None
        self.secrets: tuple[str | None, ...] = ()  # kept out of every reason and error recorded
        self.gave_up: str | None = None  # set when the server stopped answering: later prompts fail at once
        self.samples: dict[str, list[Sample]] = {}  # each prompt's attempts over the launches so far

    @contextlib.contextmanager
    def serving(self, launch: int = 0) -> Iterator[RunningModel]:
        """Launch `launch` (0-based) of the model: served and measured until the block ends, then
        stopped and recorded. A run may serve a model several times, one launch after another."""
        served = None
        try:
            with self._failing_on_crash("starting"):
                try:
                    served = serve_model(
                        self.entry,
                        registry_path=self.registry_path,
                        log_path=self._log_path(),
                        progress=self.progress,
                        foreground=self.foreground,
                    )
                except runtimes.ModelUnavailable as exc:
                    self._skip(str(exc))
                self.server = served.server
                self.record.weights_sha256 = (cache.read_manifest(self.entry) or {}).get(
                    "gguf_sha256"
                ) or self.entry.source.declared_sha256()
                self.record.starts += 1
                self.secrets = (served.api_key,)
                client = served.client(self.limits)
            yield from self._measured(served.server, served.ready, client, launch)
        finally:
            if served is not None:
                served.stop()
            self.report.save(self.reports_dir)

    def _measured(
        self, server: runtimes.Server, ready: runtimes.ReadyInfo, client: ChatClient, launch: int
    ) -> Iterator[RunningModel]:
        try:
            with self._failing_on_crash("measuring"):
                # No process to watch (a remote endpoint given without a pid): memory is not measured, never zero.
                sampler = MemorySampler(ready.pid).start() if ready.pid else None
                telemetry = LaunchTelemetry(ready.pid) if ready.pid else None
                launch_record = LaunchRecord(
                    index=launch,
                    ready_seconds=ready.ready_seconds,
                    load_seconds=ready.load_seconds,
                    rss_after_load_bytes=sampler.sample() if sampler else None,
                    gpu_memory_after_load_bytes=telemetry.gpu_memory_now() if telemetry else None,
                )
                self.record.launches.append(launch_record)
                if self.record.status == "not_run":  # a later launch leaves an earlier failure as it is
                    self.record.update(status="ran", reason=None)
                self.record.update(
                    model_id=ready.model_id,
                    runtime_version=ready.runtime_version,
                    ready_seconds=_median_of(self.record.launches, "ready_seconds"),
                    load_seconds=_median_of(self.record.launches, "load_seconds"),
                    rss_after_load_bytes=_median_of(self.record.launches, "rss_after_load_bytes"),
                    memory_note=None if sampler else "not measured: no server process to watch (give source.pid)",
                    device=ready.device,
                    gpu_layers=ready.gpu_layers,
                    gpu_memory_after_load_bytes=_median_of(self.record.launches, "gpu_memory_after_load_bytes"),
                )
                self.report.note_runtime(self.entry.runtime, ready.runtime_version)
            yield RunningModel(
                self.entry, ready.url, ready.model_id, ready.pid, client, launch=launch, warmup=self.warmup
            )
            if not server.alive():
                self.record.update(status="failed", reason=f"server exited during the tests: {server.log_tail()}")
            # Over the run: CPU time adds up over launches, peak RSS is the highest of them.
            cpu = _cpu_seconds(ready.pid) if ready.pid else None
            if cpu is not None:
                self.record.cpu_seconds = (self.record.cpu_seconds or 0.0) + cpu
            peak = sampler.stop() if sampler else None
            if peak is not None:
                self.record.peak_rss_bytes = max(peak, self.record.peak_rss_bytes or 0)
            if telemetry:
                tokens = sum(
                    s.output_tokens for samples in self.samples.values() for s in samples if s.launch == launch
                )
                self._record_telemetry(launch_record, telemetry.stop(tokens))
        finally:
            client.close()

    def _record_telemetry(self, launch: LaunchRecord, telemetry: Telemetry) -> None:
        """A launch's GPU and energy figures, and the model's over the run so far: peaks the
        highest, utilisation and power the median of the launches, energy per token over them all."""
        launch.update(
            gpu_utilization_percent=telemetry.utilization_percent,
            mean_power_watts=telemetry.mean_power_watts,
            energy_joules=telemetry.energy_joules,
            output_tokens=telemetry.output_tokens,
        )
        record, launches = self.record, self.record.launches
        for field, peak in (
            ("peak_gpu_memory_bytes", telemetry.peak_memory_bytes),
            ("peak_device_memory_bytes", telemetry.peak_device_memory_bytes),
        ):
            if peak is not None:
                setattr(record, field, max(peak, getattr(record, field) or 0))
        measured = [launch for launch in launches if launch.energy_joules is not None]
        tokens = sum(launch.output_tokens or 0 for launch in measured)
        energy = sum(launch.energy_joules or 0.0 for launch in measured)
        record.update(
            gpu_utilization_percent=_median_of(launches, "gpu_utilization_percent"),
            mean_power_watts=_median_of(launches, "mean_power_watts"),
            energy_joules=energy if measured else None,
            joules_per_token=energy / tokens if tokens else None,
            energy_source=telemetry.energy_source or record.energy_source,
            energy_note=None if measured else telemetry.energy_note,
        )

    def samples_of(self, prompt: Prompt) -> list[Sample]:
        """The prompt's attempts so far in this run (all launches); a launch appends its own."""
        return self.samples.setdefault(prompt.id, [])

    def record_prompt(self, prompt: Prompt, verdict: Verdict | None, error: str | None) -> None:
        """The prompt's outcome over its attempts so far; `verdict` is None when it failed before
        any answer. A later launch replaces the record, keeping an earlier launch's error."""
        prompts = self.record.prompts
        earlier = next((index for index, p in enumerate(prompts) if p.id == prompt.id), len(prompts))
        if earlier < len(prompts):
            error = error or prompts[earlier].error
        prompts[earlier : earlier + 1] = [
            PromptResult(
                id=prompt.id,
                text=prompt.text,
                repeats=prompt.repeats,
                min_pass_rate=prompt.min_pass_rate,
                messages=[Message.model_validate(message) for message in prompt.messages],
                tasks=list(prompt.tasks),
                response_format=prompt.response_format,
                passed=bool(verdict and verdict.passed and not error),
                attempt_pass_rate=verdict.attempt_pass_rate if verdict else None,
                pass_k=verdict.pass_k if verdict else None,
                error=redact(error, self.secrets) if error else None,
                stats=verdict.stats if verdict else {},
                checks=[CheckResult.model_validate(check) for check in verdict.check_records] if verdict else [],
                samples=verdict.sample_records if verdict else [],
            )
        ]
        self.report.save(self.reports_dir)

    def server_fault(self, fault: ServerFault) -> str:
        """A request the server did not answer properly. The model is failed with what happened
        and its server's log tail (its figures cannot be trusted, so it is never recommended); when
        it stopped answering (or exited), its remaining prompts fail at once instead of each
        waiting. Returns the one line to show."""
        server = self.server
        exited = server is not None and not server.alive()
        tail = server.log_tail() if server is not None else "(no server)"
        line = redact(
            f"{self.entry.label}: {fault}{'; the server exited' if exited else ''}; server log: {tail}", self.secrets
        )
        if self.record.status != "failed":
            self.record.update(status="failed", reason=line)
        if (fault.unresponsive or exited) and self.gave_up is None:
            self.gave_up = line
        self.report.save(self.reports_dir)
        return line

    def _skip(self, reason: str) -> NoReturn:
        self.record.update(status="skipped", reason=reason)
        raise ModelSkipped(reason)

    @contextlib.contextmanager
    def _failing_on_crash(self, stage: str) -> Iterator[None]:
        """Any error in `stage` fails the model with its reason; a skip passes through."""
        try:
            yield
        except (ModelSkipped, ModelFailed):
            raise
        except BakeoffError as exc:
            self._fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - an unexpected crash is recorded, never lost as a skip
            self._fail(f"{self.entry.label}: crashed while {stage}: {type(exc).__name__}: {exc}")

    def _fail(self, reason: str):
        reason = redact(reason, self.secrets)
        self.record.update(status="failed", reason=reason)
        raise ModelFailed(reason)

    def _log_path(self) -> Path:
        return cache.serve_log_path(self.entry, self.report.run_id)


def _median_of(launches: list[LaunchRecord], field: str) -> float | int | None:
    values = [value for launch in launches if (value := getattr(launch, field)) is not None]
    if not values:
        return None
    middle = statistics.median(values)
    return round(middle) if field.endswith("_bytes") else middle


def _cpu_seconds(pid: int) -> float | None:
    try:
        return tree_cpu_seconds(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return None

"""Storing a run: the report one session builds (`RunReport`), written atomically beside
`latest.json`, and read back (`load_report`) from any report version, validated.

The report's shape is `bakeoff.report.model`; older versions are brought up to it by
`bakeoff.report.migrate`."""

from __future__ import annotations

import contextlib
import html
import json
import os
import platform
import secrets
import socket
import sys
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

if sys.platform != "win32":  # Windows has no advisory locks: the pair is still written in one order
    import fcntl

import psutil
from pydantic import ValidationError

from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import SourceIdentity
from bakeoff.inputs.registry import GIB, ModelEntry
from bakeoff.inputs.validation import read_document
from bakeoff.measure import accelerator
from bakeoff.report import LATEST
from bakeoff.report.migrate import migrate, runtime_key
from bakeoff.report.model import AcceleratorRecord, Environment, ModelRecord, PromptSourceRecord, Report


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> Environment:
    return Environment(
        cpu=cpu_name(),
        cpu_count=psutil.cpu_count(logical=True) or 0,
        ram_gb=round(psutil.virtual_memory().total / GIB, 1),
        os=platform.platform(),
        python=sys.version.split()[0],
        bakeoff_version=version("bakeoff"),
        host=socket.gethostname(),
        **accelerators(),
    )


def accelerators() -> dict:
    """The environment's GPUs, or why there are none ("no accelerator (...)"), never an error."""
    found = accelerator.discover()
    return {
        "accelerators": [
            AcceleratorRecord(
                name=a.name,
                memory_bytes=a.memory_bytes,
                driver=a.driver,
                cuda_version=a.cuda_version,
                compute_capability=a.compute_capability,
            )
            for a in found.accelerators
        ],
        "accelerator_note": found.note,
    }


class RunReport:
    """The document one `pytest evals` session builds up (`.report`); saved whenever something finishes."""

    def __init__(self, registry_path: Path):
        self.part: str | None = None  # set on an xdist worker: its part of the run, handed to the controller
        self.report = Report(
            run_id=new_run_id(),
            status="incomplete",
            incomplete_reason="run in progress",
            started_at=now_iso(),
            finished_at=None,
            registry=str(registry_path),
            environment=environment(),
            models=[],
        )
        self._records: dict[tuple[str, str], ModelRecord] = {}  # by key: finding one must not scan 10,000
        self._indexed: list[ModelRecord] = self.report.models  # the list `_records` indexes
        self.save_error: str | None = None  # why the last save failed (a full disk), in one line

    @property
    def run_id(self) -> str:
        return self.report.run_id

    def model(self, entry: ModelEntry) -> ModelRecord:
        """The record of the model on its runtime, created as not yet run."""
        if self._indexed is not self.report.models:  # replaced (a worker's part, a merge): index it again
            self._records, self._indexed = {m.key: m for m in self.report.models}, self.report.models
        record = self._records.get(entry.key)
        if record is None:
            record = ModelRecord(
                name=entry.name,
                task=entry.task,
                family=entry.family,
                runtime=entry.runtime,
                status="not_run",
                reason="the session ended before this model's tests ran",
            )
            self.report.models.append(record)
            self._records[entry.key] = record
        return record

    def note_prompt_source(self, identity: SourceIdentity) -> None:
        """Record which prompts the run asks (kind, name, digest): reports merge only of the same."""
        self.report.prompt_source = PromptSourceRecord(kind=identity.kind, name=identity.name, sha256=identity.sha256)

    def note_runtime(self, runtime: str, runtime_version: str) -> None:
        """Keep a runtime's version under its key (a runtime may still give the name it calls itself)."""
        self.report.environment.runtimes[runtime_key(runtime)] = runtime_version

    def finish(self, incomplete_reason: str | None) -> None:
        self.report.update(
            finished_at=now_iso(),
            status="incomplete" if incomplete_reason else "complete",
            incomplete_reason=incomplete_reason,
        )

    def save(self, reports_dir: Path) -> Path | None:
        """Write the report (a worker's part when `part` is set); None when the disk refuses (full,
        read-only), with `save_error` saying why. The run goes on, the next save tries again, and
        the files already there stay whole (every write is atomic): latest.json still holds the
        last state that could be written."""
        try:
            path = (
                write_part(self.report, reports_dir, self.part)
                if self.part is not None
                else write_report(self.report, reports_dir)
            )
        except OSError as exc:
            self.save_error = (
                f"{reports_dir}: cannot write the report: {exc.strerror or exc}; {LATEST} keeps the last state written"
            )
            return None
        self.save_error = None
        return path


LATEST_HTML = "latest.html"  # beside latest.json, always about the same run


def write_report(report: Report, reports_dir: Path) -> Path:
    """Write `<run-id>.json` and point `latest.json` at the same content, each atomically.

    `latest.html` is kept about the same run as `latest.json`: while this run is written, it is a
    short page saying so (the full page comes with `publish_latest_html` at the end), so two runs
    in one project never leave the two describing different runs."""
    text = _checked_json(report, f"report {report.run_id}")
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"{report.run_id}.json"
    atomic_write(path, text)
    with _latest_lock(reports_dir):
        atomic_write(reports_dir / LATEST, text)
        atomic_write(reports_dir / LATEST_HTML, _placeholder_page(report))
    return path


PARTS = "parts"  # under the reports folder: what each xdist worker measured, by run id and worker


def part_path(reports_dir: Path, run_id: str, part: str) -> Path:
    return Path(reports_dir) / PARTS / f"{run_id}.{part}.json"


def write_part(report: Report, reports_dir: Path, part: str) -> Path:
    """A worker's part of a distributed run: its own file, never `latest.json` (the controller
    writes the merged report there). Kept after the run: it is what a crashed worker leaves."""
    path = part_path(reports_dir, report.run_id, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, _checked_json(report, f"report {report.run_id} part {part}"))
    return path


def publish_latest_html(report: Report, reports_dir: Path, page: Path) -> bool:
    """Copy the run's page to `latest.html` if `latest.json` still holds this run; False otherwise."""
    with _latest_lock(reports_dir):
        try:
            latest_run = json.loads((reports_dir / LATEST).read_text()).get("run_id")
        except (OSError, json.JSONDecodeError, AttributeError):
            latest_run = None
        if latest_run != report.run_id:
            return False
        atomic_write(reports_dir / LATEST_HTML, Path(page).read_text(encoding="utf-8"))
        return True


@contextlib.contextmanager
def _latest_lock(reports_dir: Path):
    """Held while `latest.json` and `latest.html` change, so another run cannot interleave its pair."""
    if sys.platform == "win32":
        yield
        return
    fd = os.open(reports_dir, os.O_RDONLY)  # the folder itself is the lock: no file of its own is left
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _placeholder_page(report: Report) -> str:
    run = html.escape(report.run_id)
    state = "complete" if report.status == "complete" else f"incomplete: {report.incomplete_reason or 'unknown'}"
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f'<meta name="bakeoff-run-id" content="{run}"><title>bakeoff run {run}</title></head>\n'
        f"<body><h1>bakeoff run {run}</h1><p>Status: {html.escape(state)}. Its page is written when the run ends; "
        f'until then its report is <a href="{run}.json">{run}.json</a> (the same as latest.json).</p></body></html>\n'
    )


def rewrite_report(report: Report, path: Path) -> None:
    """Write a changed report back to `path`, and to its twin (`latest.json` or `<run-id>.json`
    in the same folder) when that holds the same run, so the two never disagree."""
    text = _checked_json(report, str(path))
    path = Path(path)
    twin = path.with_name(f"{report.run_id}.json" if path.name == LATEST else LATEST)
    atomic_write(path, text)
    try:
        twin_run = json.loads(twin.read_text()).get("run_id") if twin != path else None
    except (OSError, json.JSONDecodeError, AttributeError):
        twin_run = None
    if twin_run == report.run_id:
        atomic_write(twin, text)


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_report(path: Path) -> Report:
    """A stored report of any version, brought up to the current one and validated."""
    return parse_report(read_report_data(path), where=str(path))


def read_report_data(path: Path) -> object:
    """A stored report's JSON as plain data, not yet validated; one-line BakeoffError otherwise."""
    try:
        return read_document(Path(path), "JSON")
    except BakeoffError as exc:  # "PATH: why" -> "PATH: cannot read report: why"
        raise BakeoffError(f"{path}: cannot read report: {str(exc).removeprefix(f'{path}: ')}") from None


def parse_report(data: object, where: str = "report") -> Report:
    """Report data of any version (as JSON holds it), migrated and validated; one-line BakeoffError otherwise."""
    try:
        return Report.model_validate(migrate(data))
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        raise BakeoffError(f"{where}: {_first_problem(exc)}") from None


def _checked_json(report: Report, where: str) -> str:
    try:
        return report.to_json()
    except ValueError as exc:
        raise BakeoffError(f"{where}: {_first_problem(exc)}") from None


def _first_problem(exc: ValueError) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "(the report itself)"
    message = "required" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
    return f"field {field!r}: {message}"

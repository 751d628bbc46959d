"""Storing a run: the versioned report document, validated against its schema, written atomically."""

from __future__ import annotations

import json
import os
import platform
import secrets
import sys
import tempfile
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import psutil

from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import GIB, ModelEntry
from bakeoff.inputs.validation import validate

SCHEMA = "bakeoff.report/1"
LATEST = "latest.json"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    return {
        "cpu": cpu_name(),
        "cpu_count": psutil.cpu_count(logical=True) or 0,
        "ram_gb": round(psutil.virtual_memory().total / GIB, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "bakeoff_version": version("bakeoff"),
        "runtimes": {},
    }


class RunReport:
    """The document one `pytest evals` session builds up; saved whenever something finishes."""

    def __init__(self, registry_path: Path, prompts_path: Path):
        self.data = {
            "schema": SCHEMA,
            "run_id": new_run_id(),
            "status": "incomplete",
            "incomplete_reason": "run in progress",
            "started_at": now_iso(),
            "finished_at": None,
            "registry": str(registry_path),
            "prompts_file": str(prompts_path),
            "environment": environment(),
            "models": [],
        }
        self._models: dict[tuple[str, str], dict] = {}  # keyed by (name, runtime)

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    def model(self, entry: ModelEntry) -> dict:
        """The record of the model on its runtime, created as not yet run."""
        if entry.key not in self._models:
            record = {
                "name": entry.name,
                "task": entry.task,
                "family": entry.family,
                "runtime": entry.runtime,
                "status": "not_run",
                "reason": "the session ended before this model's tests ran",
                "starts": 0,
                "prompts": [],
            }
            self._models[entry.key] = record
            self.data["models"].append(record)
        return self._models[entry.key]

    def note_runtime(self, name: str, runtime_version: str) -> None:
        self.data["environment"]["runtimes"][name] = runtime_version

    def finish(self, incomplete_reason: str | None) -> None:
        self.data["finished_at"] = now_iso()
        self.data["status"] = "incomplete" if incomplete_reason else "complete"
        self.data["incomplete_reason"] = incomplete_reason

    def save(self, reports_dir: Path) -> Path:
        return write_report(self.data, reports_dir)


def write_report(data: dict, reports_dir: Path) -> Path:
    """Write `<run-id>.json` and point `latest.json` at the same content, each atomically."""
    validate(data, "report.schema.json", where=f"report {data.get('run_id')}", locate=lambda p: ("report", p))
    reports_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    path = reports_dir / f"{data['run_id']}.json"
    _atomic_write(path, text)
    _atomic_write(reports_dir / LATEST, text)
    return path


def rewrite_report(data: dict, path: Path) -> None:
    """Write a changed report back to `path`, and to its twin (`latest.json` or `<run-id>.json`
    in the same folder) when that holds the same run, so the two never disagree."""
    validate(data, "report.schema.json", where=str(path), locate=lambda p: ("report", p))
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    path = Path(path)
    twin = path.with_name(f"{data['run_id']}.json" if path.name == LATEST else LATEST)
    _atomic_write(path, text)
    try:
        twin_run = json.loads(twin.read_text()).get("run_id") if twin != path else None
    except (OSError, json.JSONDecodeError, AttributeError):
        twin_run = None
    if twin_run == data["run_id"]:
        _atomic_write(twin, text)


def _atomic_write(path: Path, text: str) -> None:
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


def load_report(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BakeoffError(f"{path}: cannot read report: {exc}") from None
    validate(data, "report.schema.json", where=str(path), locate=lambda p: ("report", p))
    return data

"""Serving a Foundry catalog model through the `foundry` CLI (Windows, macOS), for machines that have it.

Two generations of the CLI exist, told apart by `foundry --help`:
- 0.10 and later: `foundry server start|stop|status`, with `--output json` on `server status`
  (`{"running", "pid", "webUrls"}`) and on `model list`;
- earlier: `foundry service start|stop|status`, text only: the endpoint is in
  "... running on http://127.0.0.1:N/openai/status", the PID in the start banner
  "Service is Started on http://127.0.0.1:N/, PID 1234!", the catalog in a fixed-width table.
`foundry model load ALIAS` loads in both (downloading on first use, its progress passed through
to the server log). Requests need the full model id, not the alias: it is resolved from the
catalog and checked against what the endpoint lists. The service is stopped again only if we
started it; a model we loaded is unloaded.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import FoundryCatalog
from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes.base import ProgramRuntime, ReadyInfo, progress

CLI_TIMEOUT_S = 60.0
LOAD_TIMEOUT_S = 3600.0  # a first load downloads the model
LEGACY_ENDPOINT = re.compile(r"(https?://[\w.\-]+:\d+)(?:/openai/status)?/?")
LEGACY_PID = re.compile(r"PID (\d+)")
TABLE_SPLIT = re.compile(r"\s{2,}")


@dataclass
class ServiceStatus:
    running: bool
    url: str | None
    pid: int | None


def _run(argv: list[str], timeout_s: float = CLI_TIMEOUT_S) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BakeoffError(f"`{' '.join(argv)}` did not finish in {timeout_s:.0f} s") from None
    if result.returncode != 0:
        raise BakeoffError(
            f"`{' '.join(argv)}` failed (exit code {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-300:]}"
        )
    return result.stdout


class FoundryCli:
    def __init__(self, binary: str):
        self.binary = binary
        self.generation = self._detect_generation()

    def _detect_generation(self) -> str:
        """'server' for 0.10 and later, 'service' before: the name of the command group that runs the service."""
        help_text = _run([self.binary, "--help"])
        for generation in ("server", "service"):
            if re.search(rf"^\s+{generation}\b", help_text, re.MULTILINE):
                return generation
        raise BakeoffError(
            f"{self.binary} --help lists neither a 'server' nor a 'service' command: an unknown foundry CLI"
        )

    @property
    def legacy(self) -> bool:
        return self.generation == "service"

    def version(self) -> str:
        try:
            return _run([self.binary, "--version"]).strip() or "unknown"
        except BakeoffError:
            return "unknown"

    def status(self) -> ServiceStatus:
        if not self.legacy:
            state = json.loads(_run([self.binary, "server", "status", "--output", "json"]))
            urls = state.get("webUrls") or []
            return ServiceStatus(bool(state.get("running")), urls[0].rstrip("/") if urls else None, state.get("pid"))
        text = _run([self.binary, "service", "status"])
        return _legacy_status(text)

    def start(self) -> ServiceStatus:
        text = _run([self.binary, self.generation, "start"])
        status = self.status()
        if self.legacy and status.pid is None:
            status.pid = _legacy_status(text).pid  # only the start banner names the PID
        return status

    def stop(self) -> None:
        _run([self.binary, self.generation, "stop"])

    def load(self, alias: str) -> None:
        # Output passed through: a first load shows its download progress in the server log.
        result = subprocess.run(
            [self.binary, "model", "load", alias], stdout=sys.stderr, stdin=subprocess.DEVNULL, timeout=LOAD_TIMEOUT_S
        )
        if result.returncode != 0:
            raise BakeoffError(f"`foundry model load {alias}` failed (exit code {result.returncode})")

    def unload(self, alias: str) -> None:
        _run([self.binary, "model", "unload", alias])

    def catalog_ids(self, alias: str) -> list[str]:
        """The full model ids the catalog lists under an alias (one per hardware variant)."""
        if not self.legacy:
            listed = json.loads(_run([self.binary, "model", "list", "--output", "json"]))
            return [m.get("id") or m.get("modelId") for m in listed if str(m.get("alias", "")).lower() == alias.lower()]
        return parse_legacy_model_list(_run([self.binary, "model", "list"])).get(alias.lower(), [])


def _legacy_status(text: str) -> ServiceStatus:
    endpoint = LEGACY_ENDPOINT.search(text)
    pid = LEGACY_PID.search(text)
    running = endpoint is not None and "not running" not in text.lower()
    return ServiceStatus(
        running, endpoint[1] if endpoint is not None and running else None, int(pid[1]) if pid else None
    )


def parse_legacy_model_list(text: str) -> dict[str, list[str]]:
    """Alias -> model ids from the fixed-width table of `foundry model list` (before 0.10)."""
    ids: dict[str, list[str]] = {}
    lines = [line for line in text.splitlines() if line.strip()]
    header = next((i for i, line in enumerate(lines) if line.lstrip().startswith("Alias") and "Model ID" in line), None)
    if header is None:
        raise BakeoffError("`foundry model list`: no table with Alias and Model ID columns in its output")
    for line in lines[header + 1 :]:
        cells = TABLE_SPLIT.split(line.strip())
        if len(cells) < 2 or set(line.strip()) <= {"-", " "}:
            continue
        ids.setdefault(cells[0].lower(), []).append(cells[-1])
    return ids


def resolve_model_id(cli: FoundryCli, alias: str, url: str) -> str:
    """The full id the endpoint needs: the alias's catalog variant that the endpoint lists."""
    listed = [m["id"] for m in httpx.get(f"{url}/v1/models", timeout=10).json().get("data", [])]
    if alias in listed:
        return alias
    candidates = cli.catalog_ids(alias)
    for model_id in candidates:
        if model_id in listed:
            return model_id
    raise BakeoffError(
        f"foundry: alias {alias!r} (catalog ids {candidates}) is not among the models {url} lists: {listed}"
    )


class FoundryCliRuntime(ProgramRuntime):
    name = "foundry_cli"
    display_name = "Foundry Local CLI"
    reported_as = "foundry-cli"
    source_types = ("foundry-catalog",)
    program = "foundry"
    missing = "the foundry CLI is not on PATH (Foundry Local for Windows and macOS)"

    def serve(
        self, entry: ModelEntry, port: int, *, ready: Callable[[ReadyInfo], None], stop_event: threading.Event
    ) -> None:
        self.check_source(entry)
        assert isinstance(entry.source, FoundryCatalog)  # check_source: the one type it serves
        alias = entry.source.alias
        cli = FoundryCli(self.program_path())
        status = cli.status()
        started_service = not status.running
        if started_service:
            progress(f"starting the Foundry Local service (foundry {cli.generation} start)")
            status = cli.start()
        if not status.url:
            raise BakeoffError(f"foundry {cli.generation} status gives no endpoint")
        try:
            progress(f"foundry model load {alias}")
            load_started = time.perf_counter()
            cli.load(alias)
            load_seconds = round(time.perf_counter() - load_started, 3)
            try:
                model_id = resolve_model_id(cli, alias, status.url)
                ready(
                    ReadyInfo(
                        status.url, status.pid, model_id, self.reported_as, cli.version(), load_seconds=load_seconds
                    )
                )
                stop_event.wait()
            finally:
                cli.unload(alias)
        finally:
            if started_service:
                cli.stop()

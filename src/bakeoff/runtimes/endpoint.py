"""An OpenAI-compatible server that is already running (vLLM, LM Studio, a remote machine).

Nothing to start or stop: `server_for` returns an `EndpointServer` whose `start()` checks that the
server answers and lists the model, and `bakeoff serve` refuses it. The API key is read from the
environment variable the entry names, sent as a bearer token, and never stored: the report holds
at most the variable's name. Memory is measured only when the entry gives the server's pid (a
server on this machine); otherwise it is reported as not measured.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import OpenAIEndpoint
from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes.base import ModelUnavailable, ReadyInfo, Runtime

CHECK_TIMEOUT_S = 10.0


def root_url(base_url: str) -> str:
    """The server root: OpenAI clients take a base URL ending in /v1, our client adds /v1 itself."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class EndpointRuntime(Runtime):
    name = "endpoint"
    display_name = "OpenAI-compatible endpoint"
    reported_as = "endpoint"
    source_types = ("openai-endpoint",)

    def _why_unavailable(self) -> str | None:
        return None  # nothing to install: whether the server answers is a matter for each entry

    def serve(
        self, entry: ModelEntry, port: int, *, ready: Callable[[ReadyInfo], None], stop_event: threading.Event
    ) -> None:
        raise BakeoffError(f"{entry.label}: an endpoint runtime serves itself; bakeoff has nothing to start")

    def server_for(self, entry: ModelEntry, registry_path: Path, log_path: Path) -> EndpointServer:
        return EndpointServer(self, entry)


class EndpointServer:
    def __init__(self, runtime: EndpointRuntime, entry: ModelEntry):
        self.runtime = runtime
        self.entry = entry

    @property
    def source(self) -> OpenAIEndpoint:
        """The entry's source, of the one type this runtime serves (`start` checks that first)."""
        assert isinstance(self.entry.source, OpenAIEndpoint)
        return self.entry.source

    def api_key(self) -> str | None:
        variable = self.source.api_key_env
        if variable is None:
            return None
        key = os.environ.get(variable)
        if not key:
            raise ModelUnavailable(
                f"{self.entry.label}: the API key variable {variable} (source.api_key_env) is not set"
            )
        return key

    def start(self) -> ReadyInfo:
        started = time.perf_counter()
        self.runtime.check_source(self.entry)
        url = root_url(self.source.base_url)
        key = self.api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            response = httpx.get(f"{url}/v1/models", headers=headers, timeout=CHECK_TIMEOUT_S)
        except httpx.TransportError as exc:
            raise ModelUnavailable(f"{self.entry.label}: no server answers at {url}: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            variable = self.source.api_key_env or "(none)"
            raise BakeoffError(
                f"{self.entry.label}: {url} refused the API key from {variable} ({response.status_code})"
            )
        if response.status_code != 200:
            raise BakeoffError(f"{self.entry.label}: {url}/v1/models answered {response.status_code}")
        listed = [model.get("id") for model in response.json().get("data", [])]
        if self.source.model not in listed:
            raise BakeoffError(f"{self.entry.label}: {url} does not list model {self.source.model!r} (lists: {listed})")
        pid = self.source.pid
        if pid is not None and not psutil.pid_exists(pid):
            raise BakeoffError(f"{self.entry.label}: source.pid: no process {pid} on this machine")
        return ReadyInfo(
            url=url,
            pid=pid,
            model_id=self.source.model,
            runtime=self.runtime.reported_as,
            runtime_version=response.headers.get("server", "unknown"),
            load_seconds=None,
            ready_seconds=time.perf_counter() - started,
            api_key_env=self.source.api_key_env,
        )

    def alive(self) -> bool:
        pid = self.source.pid
        return pid is None or psutil.pid_exists(pid)

    def log_tail(self, lines: int = 3) -> str:
        return "(an existing server: no log of ours)"

    def stop(self) -> int | None:
        return None  # not ours to stop

"""Runtimes that serve a model behind an OpenAI-compatible API, all behind one small interface.

The pytest plugin talks only to `unavailable_reason(runtime)` and `launch(entry, ...)`, which
returns a `Server`: `start()` waits until it is ready and returns a ReadyInfo (endpoint, model id,
the process to measure), `alive()`, `log_tail()`, `stop()`. A fixture never knows which runtime
it drives.

Runtimes that start a process (foundry, llamacpp, foundry_cli, ollama) run inside
`bakeoff serve NAME --runtime R`, which calls the module's `serve(entry, port, *, ready,
stop_event)` and prints one JSON line when ready; `ServerProcess` reads that line and stops the
whole process group. The `endpoint` runtime starts nothing: it checks an existing server.
Every runtime module also offers `runtime_available()`: None, or why it cannot run here.
Importing this package loads no runtime.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from bakeoff.errors import BakeoffError

if TYPE_CHECKING:
    from bakeoff.inputs.registry import ModelEntry
    from bakeoff.runtimes.process import ReadyInfo

MODULES = {
    "foundry": "foundry",
    "llamacpp": "llamacpp",
    "foundry_cli": "foundry_cli",
    "ollama": "ollama",
    "endpoint": "endpoint",
}


class ModelUnavailable(BakeoffError):
    """The model cannot run here (for example not cached and its catalog unreachable): skip, not fail."""


class Server(Protocol):
    def start(self) -> ReadyInfo: ...
    def alive(self) -> bool: ...
    def log_tail(self, lines: int = 3) -> str: ...
    def stop(self) -> int | None: ...


def module(runtime: str) -> ModuleType:
    try:
        return importlib.import_module(f".{MODULES[runtime]}", __name__)
    except KeyError:
        raise BakeoffError(f"unknown runtime {runtime!r}; known: {', '.join(MODULES)}") from None


def unavailable_reason(runtime: str) -> str | None:
    """None when `runtime` can run on this machine, else why not (a skip reason, never a failure)."""
    return module(runtime).runtime_available()


def launch(entry: ModelEntry, registry_path: Path, log_path: Path) -> Server:
    """The server for `entry`, not yet started."""
    if entry.runtime == "endpoint":
        from bakeoff.runtimes.endpoint import EndpointServer

        return EndpointServer(entry)
    from bakeoff.runtimes.process import ServerProcess, serve_argv

    return ServerProcess(serve_argv(entry.name, registry_path, runtime=entry.runtime), log_path)

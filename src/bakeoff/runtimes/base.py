"""The interface every runtime implements, and the types it hands back.

A runtime (`Runtime`) says whether it can run here, prepares a model's files, serves a model on
the child side (inside `bakeoff serve`) and launches that child on the parent side. The parent
only ever sees a `Server` and the `ReadyInfo` it returns, whichever runtime it drives.

Light on purpose: `bakeoff.runtimes` re-exports this module, and importing that must load no
runtime module or SDK. Never imports deciding, storing or showing.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from bakeoff import console
from bakeoff.errors import BakeoffError
from bakeoff.runtimes.ready import ModelUnavailable, ReadyInfo  # noqa: F401 - what a runtime raises and returns

if TYPE_CHECKING:
    from bakeoff.inputs.registry import ModelEntry

Progress = Callable[[str], None]


class Server(Protocol):
    """A model server on the parent side: `start()` waits until it is ready."""

    def start(self) -> ReadyInfo: ...
    def alive(self) -> bool: ...
    def log_tail(self, lines: int = 3) -> str: ...
    def stop(self) -> int | None: ...


class Runtime:
    """One runtime. Subclasses set `name`, `reported_as` and `source_types` and implement
    `_why_unavailable` and `serve`; `prepare` and `server_for` have defaults most runtimes keep."""

    name: ClassVar[str]  # the key in models.json, and its entry point's name in the group bakeoff.runtimes
    display_name: ClassVar[str]  # how people call it: "Foundry Local", "llama.cpp"
    reported_as: ClassVar[str]  # ReadyInfo.runtime: how reports name it
    source_types: ClassVar[tuple[str, ...]]  # the models.json source types it serves
    # The source types whose weights bakeoff pulls for it (`bakeoff pull`, `prepare`), and whether it
    # compiles them into a model of the runtime's own (an ONNX folder for Foundry Local) or serves the
    # weights as fetched.
    pulled_sources: ClassVar[tuple[str, ...]] = ()
    compiles: ClassVar[bool] = False

    def __init__(self) -> None:
        self._reason: tuple[str | None] | None = None

    def pulls(self, entry: ModelEntry) -> bool:
        """True when bakeoff fetches (and compiles, when `compiles`) `entry`'s weights for this runtime."""
        return entry.source.type in self.pulled_sources

    def unavailable_reason(self) -> str | None:
        """None when this runtime can run here, else why not (a skip reason, never a failure).

        Checked once per process: finding a runtime can mean importing an SDK or running a binary.
        """
        if self._reason is None:
            self._reason = (self._why_unavailable(),)
        return self._reason[0]

    def _why_unavailable(self) -> str | None:
        raise NotImplementedError

    def model_unavailable_reason(self, entry: ModelEntry) -> str | None:
        """None when `entry` may run on this runtime, else why it cannot here (a skip reason): a check
        made in the parent, quickly, so that a model that cannot run never costs a server start.
        Whatever it has to probe, it probes once per process."""
        return None

    def needs_prepare(self, entry: ModelEntry) -> bool:
        """True when `prepare` has work to do (fetching or compiling); the one place that decides it."""
        return False

    def prepare(self, entry: ModelEntry, progress: Progress) -> Path | None:
        """Get onto disk what `entry` is served from (fetched, verified, compiled) unless it is there
        already; returns those files, or None when the runtime fetches what it needs itself."""
        return None

    def serve(
        self, entry: ModelEntry, port: int, *, ready: Callable[[ReadyInfo], None], stop_event: threading.Event
    ) -> None:
        """Child side: serve `entry` on 127.0.0.1:`port` (0: any free port) until `stop_event` is set.

        `ready` is called once, when the model answers. Raises ModelUnavailable when the model
        cannot run here, BakeoffError on any other failure.
        """
        raise NotImplementedError

    def server_for(self, entry: ModelEntry, registry_path: Path, log_path: Path) -> Server:
        """Parent side: the server for `entry`, not yet started: `bakeoff serve` in a process of its own."""
        from bakeoff.runtimes.process import ServerProcess, serve_argv

        return ServerProcess(serve_argv(entry.name, registry_path, runtime=entry.runtime, entry=entry), log_path)

    def check_source(self, entry: ModelEntry) -> None:
        source_type = entry.source.type
        if source_type not in self.source_types:
            raise BakeoffError(
                f"{entry.label}: the {self.name} runtime serves sources of type "
                f"{', '.join(map(repr, self.source_types))}, "
                f"not {source_type!r}"
            )


class ProgramRuntime(Runtime):
    """A runtime driven through a program on PATH (`program`); `missing` says so when it is not there."""

    program: ClassVar[str]
    missing: ClassVar[str]

    def _why_unavailable(self) -> str | None:
        return None if shutil.which(self.program) else self.missing

    def program_path(self) -> str:
        """The program's path; only asked where the runtime is available (`unavailable_reason` is None)."""
        path = shutil.which(self.program)
        if path is None:
            raise BakeoffError(self.missing)
        return path


# A progress line in the server log (a child's stderr is its log).
progress = console.progress

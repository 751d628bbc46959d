"""Serving one model of models.json on this machine: the one way candidates, judges and `bakeoff serve` do it.

`serve_model` checks that the model can run here (RAM, runtime, model), gets its files onto disk,
starts its server and waits until it answers; what it hands back is a `ServedModel`, stopped by
its caller. The first two steps are `make_servable`, which is also all that `bakeoff serve` run by
hand does before serving: a `bakeoff serve` launched by `serve_model` (through
`Runtime.server_for`) trusts the entry its parent checked and prepared, and does neither again.

A model that cannot run here raises `ModelUnavailable` (a skip, never a failure); anything else
that goes wrong raises `BakeoffError`, an unexpected crash named with the step it happened in.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bakeoff import runtimes
from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import ModelEntry, ram_shortfall
from bakeoff.measure.client import ChatClient, Limits

Foreground = Callable[[], contextlib.AbstractContextManager]


@dataclass
class ServedModel:
    """A model's server, started and answering."""

    entry: ModelEntry
    server: runtimes.Server
    ready: runtimes.ReadyInfo

    @property
    def api_key(self) -> str | None:
        """Read from the environment variable the entry names: never carried in `ready`, never stored."""
        return os.environ.get(self.ready.api_key_env) if self.ready.api_key_env else None

    def client(self, limits: Limits | None = None) -> ChatClient:
        """A client on the runtime's own endpoint (never a relay in front of it)."""
        return ChatClient(
            self.ready.measured_url or self.ready.url, self.ready.model_id, api_key=self.api_key, limits=limits
        )

    def stop(self) -> None:
        self.server.stop()


def cannot_run_reason(entry: ModelEntry, runtime: runtimes.Runtime) -> str | None:
    """Why `entry` cannot be served on this machine (too little RAM, runtime or model missing); None if it can."""
    missing = runtime.unavailable_reason()
    return (
        ram_shortfall(entry)
        or (f"{entry.label}: {missing}" if missing else None)
        or runtime.model_unavailable_reason(entry)
    )


def make_servable(
    entry: ModelEntry, progress: Callable[[str], None], foreground: Foreground = contextlib.nullcontext
) -> runtimes.Runtime:
    """`entry`'s runtime, once the model was found able to run here (else ModelUnavailable) and its
    files are on disk (fetched, verified, compiled: `foreground` lets that long first use show
    its progress)."""
    runtime = runtimes.get(entry.runtime)
    why_not = cannot_run_reason(entry, runtime)
    if why_not:
        raise runtimes.ModelUnavailable(why_not)
    with _crash_named(entry, "preparing"):
        if runtime.needs_prepare(entry):
            with foreground():
                runtime.prepare(entry, progress)
    return runtime


def serve_model(
    entry: ModelEntry,
    *,
    registry_path: Path,
    log_path: Path,
    progress: Callable[[str], None],
    foreground: Foreground = contextlib.nullcontext,
) -> ServedModel:
    """`entry` served and answering (`make_servable`, then its server started), its server's
    output in `log_path`. ModelUnavailable when it cannot run here."""
    runtime = make_servable(entry, progress, foreground)
    with _crash_named(entry, "starting"):
        server = runtime.server_for(entry, registry_path, log_path)
        try:
            return ServedModel(entry, server, server.start())
        except BaseException:  # whatever stopped it, nothing it started is left running
            server.stop()
            raise


@contextlib.contextmanager
def _crash_named(entry: ModelEntry, step: str) -> Iterator[None]:
    """An unexpected error in `step` as a BakeoffError that names the model and the step."""
    try:
        yield
    except BakeoffError:
        raise
    except Exception as exc:  # a crash becomes one line naming where it happened
        raise BakeoffError(f"{entry.label}: crashed while {step}: {type(exc).__name__}: {exc}") from exc

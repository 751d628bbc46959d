"""Starting a model server through its command line, waiting for it, and stopping it for sure.

The server (`bakeoff serve NAME`) prints one JSON line when it is ready, or a line with
`"event": "unavailable"` when the model cannot run here. It runs in its own session so that a
signal to its process group reaches everything it started, and every live server is tracked so
that a failed or interrupted run stops them all (the server also exits when its parent dies).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bakeoff.errors import BakeoffError

if TYPE_CHECKING:
    from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes.ready import ModelUnavailable, ReadyInfo
from bakeoff.runtimes.spawn import terminate

READY_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 20.0

_live: set[ServerProcess] = set()


class ServerProcess:
    def __init__(self, argv: list[str], log_path: Path):
        self.argv = argv
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> ReadyInfo:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(self.log_path, "wb") as log:
            # Unbuffered, so no line sits in a Python buffer while select() waits on the pipe.
            self.proc = subprocess.Popen(
                self.argv,
                bufsize=0,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _live.add(self)
        try:
            line = self._read_event_line(timeout_s)
        except BaseException:
            self.stop()
            raise
        event = json.loads(line)
        if event.get("event") == "unavailable":
            self.stop()
            raise ModelUnavailable(event["reason"])
        return ReadyInfo.from_event(event, ready_seconds=time.perf_counter() - started)

    def _read_event_line(self, timeout_s: float) -> str:
        proc = self.proc
        assert proc is not None and proc.stdout is not None, "read only after the process is spawned"
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(timeout=min(remaining, 1.0)):
                    if proc.poll() is not None:
                        break
                    continue
                line = proc.stdout.readline().decode(errors="replace").strip()
                if not line:  # end of stream: the server exited
                    proc.wait()
                    break
                if line.startswith("{") and '"event"' in line:
                    return line
        raise BakeoffError(
            f"{' '.join(self.argv)}: {self._why_not_ready(timeout_s)}; log: {self.log_path}: {self.log_tail()}"
        )

    def _why_not_ready(self, timeout_s: float) -> str:
        code = self.proc.poll() if self.proc is not None else None
        return (
            f"exited with code {code} before it was ready" if code is not None else f"not ready after {timeout_s:.0f} s"
        )

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM the whole process group, SIGKILL it if it lingers; returns the exit code."""
        if self.proc is None:
            return None
        try:
            return terminate(self.proc, timeout_s, group=True)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            _live.discard(self)


def stop_all() -> None:
    for server in list(_live):
        server.stop()


atexit.register(stop_all)


def serve_argv(
    model_name: str, registry_path: Path, port: int = 0, runtime: str | None = None, entry: ModelEntry | None = None
) -> list[str]:
    """`bakeoff serve` for a model; given the `entry` the parent already validated, the child
    takes it as it is instead of reading and checking models.json again (its start is timed)."""
    argv = [sys.executable, "-m", "bakeoff", "serve", model_name, "--port", str(port), "--models", str(registry_path)]
    if runtime:
        argv += ["--runtime", runtime]
    if entry is not None:
        argv += ["--entry-json", json.dumps(dataclasses.asdict(entry))]
    return argv

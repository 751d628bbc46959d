"""Running a server program and stopping it for sure: shared by the parent's `ServerProcess` and by
runtimes whose `serve` starts a server of their own (llama-server, `ollama serve`).

`ChildServer` spawns the program with its output in the server log, waits until a URL answers 200,
holds it while serving (failing if it exits) and stops it: SIGTERM, then SIGKILL if it lingers.
It stays in `bakeoff serve`'s process group, so the parent's group signal reaches it too, even
when `bakeoff serve` itself has to be killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx

from bakeoff.errors import BakeoffError

LOOPBACK = "127.0.0.1"
# Short: the model is ready somewhere inside one interval, and every interval is added to ready_seconds.
POLL_S = 0.02
HOLD_POLL_S = 0.5
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def terminate(proc: subprocess.Popen, timeout_s: float, *, group: bool = False) -> int:
    """SIGTERM the process (or its whole process group), SIGKILL if it lingers; returns its exit code."""

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig) if group else proc.send_signal(sig)

    if proc.poll() is None:
        send(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait(5)
    if group:
        send(signal.SIGKILL)  # grandchildren may outlive a leader that exited by itself
    return proc.returncode


class ChildServer:
    """A server program `bakeoff serve` runs as its child; use as a context manager (exit stops it)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None):
        self.name = name
        self.started = time.perf_counter()
        # Its output goes to our stderr, which is the server log.
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr)

    def __enter__(self) -> ChildServer:
        return self

    def __exit__(self, *exc_info) -> None:
        terminate(self.proc, STOP_TIMEOUT_S)

    def wait_healthy(self, url: str, stop_event: threading.Event, timeout_s: float) -> httpx.Response | None:
        """The first 200 answer from `url` (a server answers 503 or refuses while loading);
        None when asked to stop first."""
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if stop_event.is_set():
                    return None
                self._check_running("before it was ready")
                try:
                    response = http.get(url)
                    if response.status_code == 200:
                        return response
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(POLL_S)
        raise BakeoffError(f"{self.name} at {url} not ready after {timeout_s:.0f} s")

    def hold(self, stop_event: threading.Event, what: str) -> None:
        """Serve until `stop_event` is set; the server exiting first is an error."""
        while not stop_event.wait(HOLD_POLL_S):
            self._check_running(f"while serving {what}")

    def seconds(self) -> float:
        """Since the program was spawned."""
        return round(time.perf_counter() - self.started, 3)

    def _check_running(self, when: str) -> None:
        if self.proc.poll() is not None:
            raise BakeoffError(f"{self.name} exited with code {self.proc.returncode} {when}")

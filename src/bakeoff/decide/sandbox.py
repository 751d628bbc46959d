"""Running code a model wrote: a contained subprocess, never this process.

The child is a fresh `python -I -S` (isolated: no PYTHON* variables, no site-packages, no cwd on
the path) with an empty environment, in its own process group. `_sandbox_runner` (as nobody
when we are root) enters new user, PID, network, mount and IPC namespaces: the code sees only
the sandbox's processes (not this one's environment, not pytest to signal), has no network, not
even 127.0.0.1, finds only the system's directories and Python's, read-only (not the user's
files), and empty, size-limited /tmp, /dev/shm and /run that vanish with it, holds no capability
to undo any of that, meets a seccomp filter and runs under resource limits (CPU seconds, address
space, file size, open files, processes). Its result comes back from the runner's supervisor
over stdout, which the code has no handle to. Where the machine refuses a protection the runner
does without it, and `RunResult.missing` names it; the caller must say so.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

RUNNER = Path(__file__).with_name("_sandbox_runner.py")
BACKSTOP_S = 5.0  # the runner times the code out itself; this is for a runner that hangs


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_bytes: int = 512 * 1024**2
    file_bytes: int = 1024**2
    open_files: int = 64
    processes: int = 16
    scratch_bytes: int = 64 * 1024**2  # each of /tmp, /dev/shm and /run (memory while the code runs)


@dataclass(frozen=True)
class CallResult:
    ok: bool
    value: object = None  # the call's result, as JSON
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    """What came back from the child: per-call results, or why there are none."""

    calls: list[CallResult]
    function: str | None  # the name of the function called
    error: str | None  # the whole run failed: timeout, killed by a limit, code that does not load
    stderr: str
    missing: list[str] = field(default_factory=list)  # protections the machine refused (the fallback ran)


def run_function(code: str, function: str | None, calls: list[dict], limits: Limits = Limits()) -> RunResult:
    """Load `code` as a module in a sandbox and call `function` (or its only/first function) per call.

    Each call is `{"args": [...], "kwargs": {...}}`; results come back as JSON values.
    """
    job = json.dumps({"code": code, "function": function, "calls": calls, "limits": limits.__dict__})
    # Files, not pipes: a process the code forks may keep a pipe open long after the runner is done.
    # The working directory is the code's only when namespaces are refused (else it gets a tmpfs).
    with (
        tempfile.TemporaryDirectory(prefix="bakeoff-sandbox-") as workdir,
        tempfile.TemporaryFile() as stdin,
        tempfile.TemporaryFile() as stdout,
        tempfile.TemporaryFile() as stderr,
    ):
        if os.geteuid() == 0:
            os.chmod(workdir, 0o777)  # the runner drops to nobody and may need a place to write
        stdin.write(job.encode())
        stdin.seek(0)
        process = subprocess.Popen(
            # -I: isolated mode; -S: no site-packages (the runner needs only the standard library).
            [sys.executable, "-I", "-S", str(RUNNER)],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=workdir,
            env={},
            start_new_session=True,  # its own process group, so a timeout kills its children too
        )
        try:
            process.wait(timeout=limits.wall_s + BACKSTOP_S)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(process)  # whatever it started, and itself after a timeout
            process.wait()
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if timed_out:
        return RunResult([], None, f"timed out after {limits.wall_s:g} s wall-clock", _tail(err))
    return _parse(process.returncode, out, err, len(calls))


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(data: bytes, limit: int = 400) -> str:
    text = data.decode("utf-8", "replace").strip()
    return text[-limit:]


def _parse(returncode: int, out: bytes, err: bytes, expected_calls: int) -> RunResult:
    stderr = _tail(err)
    last = out.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    try:
        message = json.loads(last[0])
    except json.JSONDecodeError:
        message = None
    if not isinstance(message, dict) or "calls" not in message and "error" not in message:
        if returncode < 0:
            reason = f"killed by {signal.Signals(-returncode).name}"
            if -returncode in (signal.SIGXCPU, signal.SIGKILL):
                reason += " (CPU time limit)"
        else:
            reason = f"exited with status {returncode} without a result"
        return RunResult([], None, reason + (f": {stderr.splitlines()[-1]}" if stderr else ""), stderr)
    missing = message.get("missing", [])
    if message.get("error"):
        return RunResult([], None, message["error"], stderr, missing)
    try:  # the calls are what the code's process sent: shaped as the runner writes them, or refused
        calls = [CallResult(**call) for call in message["calls"]]
        function = message["function"]
        assert (
            isinstance(function, str)
            and len(calls) == expected_calls
            and all(isinstance(call.ok, bool) for call in calls)
        )
    except (TypeError, KeyError, AssertionError):
        return RunResult([], None, "the sandbox sent a malformed result", stderr, missing)
    return RunResult(calls, function, None, stderr, missing)

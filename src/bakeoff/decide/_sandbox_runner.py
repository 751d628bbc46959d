"""The child side of bakeoff.sandbox: load the model's code in a limited worker, call it, print JSON.

Run as `python -I -S _sandbox_runner.py` with the job as JSON on stdin. Standard library only.
This process stays as it is and only watches: it becomes a child subreaper, forks a worker that
limits itself (and drops to nobody when we are root) before running the code, enforces the
wall-clock limit, and then kills every process the code left behind, including ones that
daemonized into a session of their own (orphans are reparented to a subreaper).
Whatever the model's code prints goes to stderr; the last stdout line is the result.
"""

import ctypes
import json
import os
import resource
import select
import signal
import sys
import time
import types

# Imported before dropping to nobody: the interpreter may live where nobody cannot read (here,
# under /root), so code a model wrote can use these and other standard modules fail to import.
PRELOADED = (
    "abc array bisect cmath collections collections.abc copy dataclasses datetime decimal enum "
    "fractions functools hashlib heapq itertools math numbers operator random re statistics "
    "string struct textwrap time typing unicodedata"
).split()


def limit(limits: dict) -> None:
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at the soft limit, SIGKILL after
    for name, key in [("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "file_bytes"), ("RLIMIT_NOFILE", "open_files")]:
        resource.setrlimit(getattr(resource, name), (limits[key], limits[key]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.geteuid() == 0:
        for name in PRELOADED:
            __import__(name)
        # As nobody, the code cannot read our parent's /proc/<pid>/environ or root's files,
        # and the process limit applies (root ignores RLIMIT_NPROC).
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))


def jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, (tuple, set, frozenset)):
            return [jsonable(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)]
        return repr(value)


def pick_function(module: types.ModuleType, name):
    if name:
        fn = getattr(module, name, None)
        if not callable(fn):
            raise LookupError(f"the code defines no function {name!r}")
        return fn
    defined = [v for v in vars(module).values() if isinstance(v, types.FunctionType) and v.__module__ == module.__name__]
    if not defined:
        raise LookupError("the code defines no function")
    return defined[0]


def run_job(job: dict) -> None:
    """In the worker: limit, load, call; write the result line and exit without cleanup."""
    limit(job["limits"])
    result_stream = sys.stdout
    sys.stdout = sys.stderr  # the model's prints must not mix with the result line
    sys.stdin = open(os.devnull)
    module = types.ModuleType("answer")  # not __main__, so `if __name__ == "__main__":` demos stay quiet
    try:
        exec(compile(job["code"], "<answer>", "exec"), module.__dict__)
        function = pick_function(module, job["function"])
    except BaseException as exc:  # noqa: BLE001 - any failure of untrusted code is a result
        result = {"error": f"the code does not load: {type(exc).__name__}: {exc}"}
    else:
        calls = []
        for call in job["calls"]:
            try:
                value = function(*call.get("args", []), **call.get("kwargs", {}))
                calls.append({"ok": True, "value": jsonable(value)})
            except BaseException as exc:  # noqa: BLE001
                calls.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        result = {"function": function.__name__, "calls": calls}
    result_stream.write("\n" + json.dumps(result) + "\n")
    result_stream.flush()
    os._exit(0)  # skip atexit hooks and finalizers the model's code may have registered


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: processes the code detaches may outlive the run


def wait(worker: int, timeout_s: float):
    """The worker's wait status, or None when it is still running after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    with os.fdopen(os.pidfd_open(worker)) as pidfd:
        while (left := deadline - time.monotonic()) > 0:
            if select.select([pidfd], [], [], left)[0]:
                return os.waitpid(worker, 0)[1]
    return None


def children() -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                found.append(int(entry))
    return found


def kill_leftovers() -> None:
    """Kill and reap our children until none is left; orphans of the code keep arriving here."""
    while pids := children():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def describe(status: int) -> str | None:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        reason = f"killed by {signal.Signals(number).name}"
        return reason + (" (CPU time limit)" if number == signal.SIGXCPU else "")
    if os.WEXITSTATUS(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return None


def main() -> None:
    job = json.loads(sys.stdin.read())
    become_subreaper()
    sys.stdout.flush()
    worker = os.fork()
    if worker == 0:
        run_job(job)
    status = wait(worker, job["limits"]["wall_s"])
    if status is None:
        os.kill(worker, signal.SIGKILL)
        os.waitpid(worker, 0)
    kill_leftovers()
    if status is None:
        failure = f"timed out after {job['limits']['wall_s']:g} s wall-clock"
    else:
        failure = describe(status)
    if failure:  # the worker wrote no result; say why in its place
        sys.stdout.write("\n" + json.dumps({"error": failure}) + "\n")
        sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

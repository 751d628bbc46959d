"""The child side of bakeoff.sandbox: limit itself, load the model's code, call it, print JSON.

Run as `python -I -S _sandbox_runner.py` with the job as JSON on stdin. Standard library only.
Whatever the model's code prints goes to stderr; the last stdout line is this runner's result.
"""

import json
import os
import resource
import sys
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


def main() -> None:
    job = json.loads(sys.stdin.read())
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


if __name__ == "__main__":
    main()

"""Code a model wrote runs contained: loops, allocations, secrets, stray processes and files."""

import os
import time

import psutil

from bakeoff.decide._sandbox_runner import PRIVATE_TMP
from bakeoff.decide.checks import CheckSpec, run_check
from bakeoff.decide.sandbox import Limits, run_function


def call(code: str, limits: Limits = Limits(), args=()):
    return run_function(code, None, [{"args": list(args)}], limits)


def test_results_come_back_as_json_and_prints_do_not_mix_in():
    result = call("def f(x):\n    print('noise')\n    return sorted(x), (1, 2)\n", args=[[3, 1, 2]])
    assert result.error is None and result.function == "f"
    assert result.calls[0].value == [[1, 2, 3], [1, 2]]
    assert "noise" in result.stderr


def test_demo_code_under_main_guard_does_not_run():
    result = call("def f():\n    return 1\n\nif __name__ == '__main__':\n    raise SystemExit(f() + input())\n")
    assert result.calls[0].value == 1


def test_an_endless_loop_is_stopped_by_the_cpu_limit():
    started = time.monotonic()
    result = call("def f():\n    while True:\n        pass\n", Limits(wall_s=20, cpu_s=1))
    assert result.calls == [] and "CPU time limit" in result.error
    assert time.monotonic() - started < 10


def test_sleeping_forever_is_stopped_by_the_wall_clock():
    result = call("import time\ndef f():\n    time.sleep(600)\n", Limits(wall_s=1.5))
    assert result.error == "timed out after 1.5 s wall-clock"


def test_unbounded_allocation_hits_the_memory_limit():
    code = "def f():\n    chunks = []\n    while True:\n        chunks.append(bytearray(10**7))\n"
    result = call(code, Limits(memory_bytes=256 * 1024**2))
    assert result.calls[0].ok is False and result.calls[0].error.startswith("MemoryError")


def test_the_environment_holds_no_secrets(monkeypatch):
    monkeypatch.setenv("BAKEOFF_TEST_SECRET", "hunter2")
    result = call("import os\ndef f():\n    return dict(os.environ)\n")
    assert "hunter2" not in str(result.calls[0].value)
    assert set(result.calls[0].value) <= {"LC_CTYPE"}  # only what Python itself sets for UTF-8


def leftovers(token: str) -> list[int]:
    """Processes on this machine whose argv holds `token`: the code's PIDs are its namespace's."""
    return [p.pid for p in psutil.process_iter(["cmdline", "status"]) if token in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE]


def test_processes_left_behind_are_killed():
    token = f"{time.time() % 1000 + 2000:.6f}"
    code = f"import os, time\ndef f():\n    pid = os.fork()\n    if pid == 0:\n        os.execv('/usr/bin/sleep', ['sleep', '{token}'])\n    time.sleep(0.3)\n    return pid\n"
    result = call(code)
    assert isinstance(result.calls[0].value, int), result
    time.sleep(0.2)
    assert leftovers(token) == []


def test_files_are_small_and_stay_in_a_temporary_folder():
    result = call("import os\ndef f():\n    open('out.txt', 'w').write('x' * 10**7)\n")
    assert "File too large" in result.calls[0].error
    where = call("import os\ndef f():\n    return os.getcwd()\n")
    if PRIVATE_TMP in where.missing:  # the fallback: a temporary folder of ours, removed after the run
        assert "bakeoff-sandbox-" in where.calls[0].value and not os.path.exists(where.calls[0].value)
    else:  # its own tmpfs, gone with the sandbox
        assert where.calls[0].value == "/tmp"


def test_a_check_on_runaway_code_fails_with_the_reason_and_the_next_runs():
    loop = "```python\ndef sort_list(x):\n    while True:\n        pass\n```"
    spec = CheckSpec("python_function", {"calls": [{"args": [[2, 1]], "expect": [1, 2]}], "timeout_s": 2})
    outcome = run_check(spec, loop)
    assert not outcome.passed and outcome.detail.startswith("code did not run: ")
    assert run_check(spec, "```python\ndef sort_list(x):\n    return sorted(x)\n```").passed


def test_a_process_that_detaches_into_its_own_session_is_killed_too():
    token = f"{time.time() % 1000 + 3000:.6f}"
    code = (
        "import os, time\n"
        "def f():\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        f"            os.execv('/usr/bin/sleep', ['sleep', '{token}'])\n"
        "        os._exit(0)\n"
        "    time.sleep(0.5)\n"
        "    return 'detached'\n"
    )
    result = call(code)
    assert result.calls[0].value == "detached", result
    time.sleep(0.2)
    assert leftovers(token) == []

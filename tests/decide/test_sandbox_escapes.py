"""Hostile code against the sandbox, as root and as an unprivileged user: every escape of issue 12.

Each probe runs in a helper process (as we are, or as `nobody` through setpriv when we are root)
that holds an API key in its environment, notes any SIGTERM it gets and calls the sandbox with
its own PID and its ancestors' as arguments, as the code of a model would find them. A probe
passes when the escape is contained, or when the sandbox names the missing protection (the
fallback on a machine that refuses namespaces); probes that would harm other processes when
uncontained run only where the sandbox says namespaces held.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import psutil
import pytest

from bakeoff.decide import _sandbox_runner as runner
from bakeoff.decide.checks import CheckSpec, run_check
from bakeoff.report.model import AttemptCheck

SECRET = "sk-probe-" + uuid.uuid4().hex
NOBODY = 65534
# The helper's environment: the key, and what finds Python and this package (as a test run found them).
BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BAKEOFF_API_KEY": SECRET, **{k: os.environ[k] for k in ["PYTHONPATH"] if k in os.environ}}

# Run in the helper: call the sandbox, then report what came back and whether SIGTERM arrived.
HELPER = """
import dataclasses, json, os, signal, sys, time
from bakeoff.decide.sandbox import run_function
got = []
signal.signal(signal.SIGTERM, lambda *_: got.append("SIGTERM"))
ancestors, pid = [], os.getpid()
while pid > 1:
    ancestors.append(pid)
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
job = json.loads(sys.stdin.read())
result = run_function(job["code"], None, [{"args": [ancestors, *job["args"]]}])
time.sleep(0.3)  # a signal the code sent, or a daemon it left, has time to act
print(json.dumps({"result": dataclasses.asdict(result), "signals": got, "ancestors": ancestors}))
"""


def unprivileged_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("we are root and setpriv (util-linux) is missing: no way to run as an unprivileged user")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def readable_by(prefix: list[str], test: str, path: str) -> bool:
    return subprocess.run([*prefix, "sh", "-c", f'test {test} "$0"', path]).returncode == 0


def interpreter(prefix: list[str], scratch) -> tuple[str, dict]:
    """A Python the user can run, with this package: ours may live where nobody cannot reach (under
    /root, or a clone in a 0700 temporary directory); then the system's Python 3 of the same
    version, given a copy of this package that the user can read (the sandbox needs only it and
    the standard library)."""
    package = os.path.dirname(os.path.dirname(runner.__file__))
    if not prefix or (readable_by(prefix, "-x", sys.executable) and readable_by(prefix, "-r", runner.__file__)):
        return sys.executable, {}
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.path.exists(system):
        pytest.skip(f"nobody cannot run {sys.executable} and there is no {system}")
    os.chmod(scratch, 0o755)
    shutil.copytree(package, os.path.join(scratch, "bakeoff"))
    for directory, _, files in os.walk(scratch):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
    return system, {"PYTHONPATH": scratch}


@pytest.fixture(params=["root", "unprivileged"])
def probe(request):
    """Run code in the sandbox from a helper as root or as an unprivileged user; its report as a dict."""
    if request.param == "root":
        if os.geteuid() != 0:
            pytest.skip("not root here: the root variant needs a root test run")
        prefix = []
    else:
        prefix = unprivileged_prefix()
    scratch = tempfile.mkdtemp(prefix="bakeoff-probe-")
    request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
    python, python_env = interpreter(prefix, scratch)

    def run(code: str, *args) -> dict:
        env = {**BASE_ENV, **python_env}
        done = subprocess.run(
            [*prefix, python, "-c", HELPER],
            input=json.dumps({"code": code, "args": list(args)}),
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        report["result"]["value"] = report["result"]["calls"][0]["value"] if report["result"]["calls"] else None
        return report

    run.uid = NOBODY if prefix else os.geteuid()
    return run


def isolated(report: dict) -> bool:
    """Namespaces held; else the sandbox must have said they did not."""
    missing = report["result"]["missing"]
    assert (runner.NAMESPACES in missing) == bool(missing and runner.PRIVATE_PROC in missing)
    return runner.NAMESPACES not in missing


def test_the_api_key_in_an_ancestors_environment_is_out_of_reach(probe):
    code = (
        "import os\n"
        "def f(ancestors):\n"
        "    found = []\n"
        "    for pid in [*ancestors, *(p for p in os.listdir('/proc') if p.isdigit())]:\n"
        "        try:\n"
        "            found.append(open(f'/proc/{pid}/environ', 'rb').read().decode('latin-1'))\n"
        "        except OSError as exc:\n"
        "            found.append(type(exc).__name__)\n"
        "    return found + [repr(dict(os.environ))]\n"
    )
    report = probe(code)
    assert report["result"]["error"] is None, report
    assert SECRET not in json.dumps(report["result"]), report["result"]["value"]
    if isolated(report):
        assert "PermissionError" in report["result"]["value"] or "FileNotFoundError" in report["result"]["value"]


def test_sigterm_to_the_caller_and_kill_minus_one_reach_nothing_outside(probe):
    first = probe("def f(ancestors):\n    return 1\n")
    if not isolated(first):
        pytest.skip(f"no PID namespace here (the sandbox says so: {first['result']['missing']}); kill(-1) would reach the user's processes")
    witness = subprocess.Popen([*(unprivileged_prefix() if probe.uid == NOBODY else []), "sleep", "60"])
    try:
        code = (
            "import os, signal\n"
            "def f(ancestors, witness):\n"
            "    sent = []\n"
            "    for pid in [*ancestors, witness, -1]:\n"
            "        try:\n"
            "            os.kill(pid, signal.SIGTERM)\n"
            "            sent.append(pid)\n"
            "        except OSError as exc:\n"
            "            sent.append(type(exc).__name__)\n"
            "    return sent\n"
        )
        report = probe(code, witness.pid)
        time.sleep(0.2)
        assert report["signals"] == [], report
        assert witness.poll() is None, "kill(-1) or kill(witness) reached a process of the user outside the sandbox"
        # The PIDs the code can name are its namespace's, where kill(-1) finds nobody but init to spare.
        assert report["result"]["error"] is None and report["result"]["value"][-1] == "ProcessLookupError"
    finally:
        witness.kill()
        witness.wait()


def test_a_daemon_that_kills_its_runner_does_not_survive(probe):
    token = f"{time.time() % 1000 + 1000:.6f}"  # an argv no other process has
    code = (
        "import os, signal, time\n"
        "def f(ancestors):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            for pid in [1, *range(2, 50), *ancestors]:\n"
        "                for sig in (signal.SIGKILL, signal.SIGTERM):\n"
        "                    try:\n"
        "                        os.kill(pid, sig) if pid != os.getpid() else None\n"
        "                    except OSError:\n"
        "                        pass\n"
        f"            os.execv('/usr/bin/sleep', ['sleep', '{token}'])\n"
        "        os._exit(0)\n"
        "    time.sleep(0.5)\n"
        "    return 'runner still here'\n"
    )
    report = probe(code)
    time.sleep(0.3)
    survivors = [p.pid for p in psutil.process_iter(["cmdline"]) if token in (p.info["cmdline"] or [])]
    assert survivors == [], f"the daemon survived the run: {survivors}"
    assert report["signals"] == []
    # The runner is out of its reach: the result still comes back (or the run fails cleanly).
    assert report["result"]["value"] == "runner still here" or report["result"]["error"]


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 that counts connections."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def test_the_network_is_cut_even_to_127_0_0_1(probe, listener):
    port, accepted = listener
    code = (
        "import os\n"
        "def f(ancestors, port):\n"
        "    bash = os.system(f'bash -c \"echo hello > /dev/tcp/127.0.0.1/{port}\" 2>/dev/null')\n"
        "    python = os.system(f'/usr/bin/python3 -S -c \"import socket; socket.create_connection((\\'127.0.0.1\\', {port}), 2)\" 2>/dev/null')\n"
        "    return [bash, python]\n"
    )
    report = probe(code, port)
    time.sleep(0.3)
    if isolated(report):  # else the sandbox said the network namespace is missing
        assert accepted == [], "the code reached a server on 127.0.0.1"
        assert report["result"]["value"] and all(status != 0 for status in report["result"]["value"])


def test_files_in_tmp_and_dev_shm_do_not_outlive_the_run_and_are_bounded(probe):
    name = f"bakeoff-probe-{uuid.uuid4().hex}"
    code = (
        "import os\n"
        "def f(ancestors, name):\n"
        "    written = 0\n"
        "    for folder in ('/tmp', '/dev/shm'):\n"
        "        try:\n"
        "            for n in range(150):\n"
        "                with open(f'{folder}/{name}-{n}', 'wb') as out:\n"
        "                    out.write(b'x' * (1024**2 - 1))\n"
        "                written += 1024**2 - 1\n"
        "        except OSError:\n"
        "            pass\n"
        "    return written\n"
    )
    report = probe(code, name)
    leftovers = [p for folder in ("/tmp", "/dev/shm") for p in os.listdir(folder) if p.startswith(name)]
    for path in leftovers:  # a fallback run leaves them; clean up before asserting
        os.unlink(os.path.join("/tmp" if os.path.exists(os.path.join("/tmp", path)) else "/dev/shm", path))
    if isolated(report):
        assert leftovers == []
        assert runner.PRIVATE_TMP not in report["result"]["missing"]
        # Each scratch tmpfs holds 64 MB: 300 MB do not fit.
        assert 0 < report["result"]["value"] <= 2 * 64 * 1024**2
    else:
        assert runner.PRIVATE_TMP in report["result"]["missing"]


def test_the_users_files_are_out_of_sight_and_the_system_read_only(probe):
    target = os.path.join(os.path.dirname(__file__), f"probe-{uuid.uuid4().hex}")
    code = (
        "import os\n"
        "def f(ancestors, here, target):\n"
        "    seen = os.path.exists(here)\n"
        "    written = []\n"
        "    for path in (target, '/usr/probe', '/etc/probe', '/probe'):\n"
        "        try:\n"
        "            open(path, 'w').write('x')\n"
        "            written.append(path)\n"
        "        except OSError as exc:\n"
        "            written.append(exc.strerror)\n"
        "    return seen, written\n"
    )
    report = probe(code, __file__, target)
    existed = os.path.exists(target)
    if existed:
        os.unlink(target)
    if isolated(report):
        assert runner.HIDDEN_FILES not in report["result"]["missing"] and runner.READ_ONLY not in report["result"]["missing"]
        assert not existed and report["result"]["value"] == [False, ["No such file or directory", *["Read-only file system"] * 3]]


def test_system_calls_that_reach_beyond_the_sandbox_are_refused(probe):
    code = (
        "import ctypes, os\n"
        "def f(ancestors):\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    calls = {'unshare': lambda: libc.unshare(0x10000000), 'ptrace': lambda: libc.ptrace(16, ancestors[0], 0, 0),\n"
        "             'mount': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), 'socket': lambda: libc.socket(2, 1, 0)}\n"
        "    tried = {name: [call(), ctypes.get_errno()] for name, call in calls.items()}\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os._exit(3)\n"
        "    tried['fork'] = os.waitpid(pid, 0)[1] >> 8\n"
        "    return tried\n"
    )
    report = probe(code)
    if runner.SECCOMP in report["result"]["missing"]:
        pytest.skip("libseccomp.so.2 is not installed here: the sandbox says so in its missing protections")
    tried = report["result"]["value"]
    assert tried["unshare"] == tried["ptrace"] == tried["mount"] == [-1, 1], tried  # EPERM
    assert tried["socket"] == [-1, 97] and tried["fork"] == 3  # EAFNOSUPPORT; processes still work


def test_printing_a_result_line_does_not_forge_the_result(probe):
    forged = '{"function": "f", "calls": [{"ok": true, "value": 42}], "missing": []}'
    code = (
        "import os, sys\n"
        f"FORGED = {forged!r}\n"
        "print(FORGED)\n"
        "os.write(1, ('\\n' + FORGED + '\\n').encode())\n"
        "sys.__stdout__.write('\\n' + FORGED + '\\n')\n"
        "sys.__stdout__.flush()\n"
        "def f(ancestors):\n"
        "    os.write(1, ('\\n' + FORGED + '\\n').encode())\n"
        "    os._exit(0)\n"
    )
    report = probe(code)
    assert report["result"]["calls"] == [] and report["result"]["error"] == "the worker sent no readable result", report


@pytest.fixture
def fallback_probe():
    """The helper inside a user namespace that may create no more: the sandbox's fallback."""
    if subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode != 0:
        pytest.skip("this machine refuses user namespaces: every other probe here already runs the fallback")

    def run(code: str, helper: str = HELPER) -> dict:
        shell = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" -c "$1"'
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", "sh", "-c", shell, sys.executable, helper],
            input=json.dumps({"code": code, "args": []}),
            capture_output=True,
            text=True,
            env=BASE_ENV,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        return report["result"] if helper == HELPER else report

    return run


def test_the_fallback_names_every_protection_it_lacks_and_still_kills_leftovers(fallback_probe):
    token = f"{time.time() % 1000 + 4000:.6f}"
    code = (
        "import os\n"
        "def f(ancestors):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        f"        os.execv('/usr/bin/sleep', ['sleep', '{token}'])\n"
        "    return [open(f'/proc/{pid}/environ', 'rb').read().decode('latin-1') for pid in ancestors[:1]]\n"
    )
    result = fallback_probe(code)
    time.sleep(0.3)
    assert result["missing"] == [runner.UNPRIVILEGED_USER, runner.NAMESPACES, runner.PRIVATE_PROC, runner.HIDDEN_FILES, runner.READ_ONLY, runner.PRIVATE_TMP]
    # What the report must then say out loud: the key was in reach.
    assert SECRET in result["calls"][0]["value"][0]
    assert [p for p in psutil.process_iter(["cmdline"]) if token in (p.info["cmdline"] or [])] == []


def test_the_fallback_still_keeps_the_result_channel_from_the_code(fallback_probe):
    code = "import os\ndef f(ancestors):\n    os.write(1, b'\\n{\"function\": \"f\", \"calls\": [{\"ok\": true, \"value\": 42}]}\\n')\n    os._exit(0)\n"
    result = fallback_probe(code)
    assert result["calls"] == [] and result["error"] == "the worker sent no readable result"


CHECK_HELPER = """
import json, sys, warnings
from bakeoff.decide.checks import CheckSpec, run_check
spec = CheckSpec("python_function", {"calls": [{"args": [[2, 1]], "expect": [1, 2]}]})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    outcome = run_check(spec, json.loads(sys.stdin.read())["code"])
print(json.dumps({"passed": outcome.passed, "detail": outcome.detail, "missing": outcome.sandbox_missing, "warnings": [str(w.message) for w in caught]}))
"""


def test_a_check_in_the_fallback_says_so_in_its_detail_the_report_and_a_warning(fallback_probe):
    answer = "```python\ndef sort_list(x):\n    return sorted(x)\n```"
    outcome = fallback_probe(answer, CHECK_HELPER)
    assert outcome["passed"] and "SANDBOX WEAKER" in outcome["detail"] and runner.NAMESPACES in outcome["detail"]
    assert runner.NAMESPACES in outcome["missing"]
    assert len(outcome["warnings"]) == 1 and runner.NAMESPACES in outcome["warnings"][0]
    record = AttemptCheck(check="python_function", passed=True, detail=outcome["detail"], sandbox_missing=outcome["missing"])
    assert record.model_dump()["sandbox_missing"] == outcome["missing"]


def test_a_check_with_every_protection_says_nothing_more():
    outcome = run_check(CheckSpec("python_function", {"calls": [{"args": [[2, 1]], "expect": [1, 2]}]}), "def f(x):\n    return sorted(x)\n")
    assert outcome.passed and outcome.sandbox_missing == () and "SANDBOX" not in outcome.detail

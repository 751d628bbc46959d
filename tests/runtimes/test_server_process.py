"""Fault injection for starting and stopping servers, with stand-in server scripts (not a model)."""

import sys
import textwrap
import time

import psutil
import pytest

from bakeoff.errors import BakeoffError
from bakeoff.runtimes import ModelUnavailable
from bakeoff.runtimes.process import ServerProcess


def stand_in(tmp_path, body: str) -> list[str]:
    script = tmp_path / "stand_in_server.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


READY = 'print(json.dumps({"event": "ready", "url": "http://127.0.0.1:9", "pid": os.getpid(), "model_id": "m:1", "runtime": "stand-in", "runtime_version": "0", "load_seconds": 0.5}), flush=True)'


def test_ready_line_is_parsed_and_stop_ends_the_whole_group(tmp_path):
    argv = stand_in(tmp_path, f"""
        import json, os, subprocess, sys, time
        print("loading...", file=sys.stderr)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(json.dumps({{"child": child.pid}}), flush=True)  # not an event line: ignored
        {READY}
        open(os.environ.get("CHILD_FILE", "/dev/null"), "w").write(str(child.pid))
        time.sleep(60)
    """)
    server = ServerProcess(argv, tmp_path / "log" / "serve.log")
    ready = server.start(timeout_s=20)
    assert ready.model_id == "m:1" and ready.load_seconds == 0.5 and ready.ready_seconds > 0
    assert server.alive()
    family = [server.proc.pid] + [c.pid for c in psutil.Process(server.proc.pid).children(recursive=True)]
    assert len(family) == 2
    server.stop(timeout_s=5)
    time.sleep(0.2)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in family)
    assert "loading..." in (tmp_path / "log" / "serve.log").read_text()


def test_a_server_that_ignores_sigterm_is_killed(tmp_path):
    argv = stand_in(tmp_path, f"""
        import json, os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        {READY}
        time.sleep(60)
    """)
    server = ServerProcess(argv, tmp_path / "serve.log")
    server.start(timeout_s=20)
    started = time.monotonic()
    code = server.stop(timeout_s=1)
    assert code == -9 and time.monotonic() - started < 5


def test_exit_before_ready_is_an_error_with_the_log_tail(tmp_path):
    argv = stand_in(tmp_path, """
        import sys
        print("model file is corrupt", file=sys.stderr)
        sys.exit(7)
    """)
    server = ServerProcess(argv, tmp_path / "serve.log")
    with pytest.raises(BakeoffError, match="exited with code 7 before it was ready.*model file is corrupt"):
        server.start(timeout_s=20)
    assert not server.alive()


def test_unavailable_model_raises_model_unavailable(tmp_path):
    argv = stand_in(tmp_path, """
        import json
        print(json.dumps({"event": "unavailable", "reason": "phi-4: catalog unreachable"}), flush=True)
    """)
    with pytest.raises(ModelUnavailable, match="phi-4: catalog unreachable"):
        ServerProcess(argv, tmp_path / "serve.log").start(timeout_s=20)


def test_a_server_that_never_gets_ready_times_out_and_is_stopped(tmp_path):
    argv = stand_in(tmp_path, "import time; time.sleep(60)")
    server = ServerProcess(argv, tmp_path / "serve.log")
    with pytest.raises(BakeoffError, match="not ready after 1 s"):
        server.start(timeout_s=1)
    assert not server.alive()

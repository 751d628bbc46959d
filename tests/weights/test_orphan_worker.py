"""SIGKILL of `bakeoff pull` while a tool runs (the compile worker) leaves no tool running: each
tool dies with the process that started it (issue 12: the worker went on for 40 s, up to 0.9 GB).
The stand-ins: a pull that runs one step through StepLog.run, a worker that only sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

PULL = '''
import sys
from pathlib import Path
from bakeoff.weights.steps import StepLog

scratch = Path(sys.argv[1])
worker = [sys.executable, "-c", f"import os, time; open({str(scratch / 'worker.pid')!r}, 'w').write(str(os.getpid())); time.sleep(120)"]
with StepLog(lambda line: None, scratch / "pull.log", live=False) as steps:
    with steps.step("Converting", "converted"):
        steps.run("the compile worker", worker)
'''


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, waiting to be reaped
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkill_of_the_pull_takes_its_worker_down(tmp_path):
    pull = subprocess.Popen([sys.executable, "-c", PULL, str(tmp_path)])
    pid_file = tmp_path / "worker.pid"
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = int(pid_file.read_text())
    assert not gone(worker)
    os.kill(pull.pid, signal.SIGKILL)
    pull.wait()
    deadline = time.monotonic() + 5
    while not gone(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert gone(worker), "the worker outlived the pull that started it"
    finally:
        if not gone(worker):
            os.kill(worker, signal.SIGKILL)

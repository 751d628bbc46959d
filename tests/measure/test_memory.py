"""The RSS sampler follows a real process tree and keeps the peak."""

import os
import signal
import subprocess
import sys
import time

from bakeoff.measure.memory import MemorySampler

# The grandchild says when it holds 200 MB (written, so resident) and when it has let go, so the
# test follows its steps instead of guessing how long a loaded machine takes to get there.
HOLD_THEN_FREE = (
    "import sys, time\n"
    "block = bytearray(b'x') * (200 * 1024 * 1024)\n"
    "print('holding', flush=True)\n"
    "sys.stdin.readline()\n"
    "del block\n"
    "print('freed', flush=True)\n"
    "time.sleep(30)\n"
)


def test_peak_catches_a_short_allocation_in_a_child():
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOLD_THEN_FREE!r}])"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        sampler = MemorySampler(parent.pid, interval_s=0.02).start()
        baseline = sampler.sample()
        assert parent.stdout.readline().strip() == "holding"
        time.sleep(0.5)  # many sampling intervals while the block is held
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "freed"
        peak = sampler.stop()
        after = sampler.sample()
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the grandchild too
        parent.wait()
    assert peak - baseline > 150 * 1024 * 1024
    assert after < peak - 100 * 1024 * 1024
    assert sampler.samples > 10


def test_a_process_that_is_gone_is_not_measured_rather_than_zero():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    sampler = MemorySampler(child.pid)
    child.wait()
    time.sleep(0.05)
    assert sampler.sample() is None
    assert sampler.stop() is None  # not one sample: no peak to report, never 0

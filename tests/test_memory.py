"""The RSS sampler follows a real process tree and keeps the peak."""

import subprocess
import sys
import time

from bakeoff.memory import MemorySampler

GROW = "import time; time.sleep(0.3); block = bytearray(200 * 1024 * 1024); time.sleep(0.6); del block; time.sleep(5)"


def test_peak_catches_a_short_allocation_in_a_child():
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {GROW!r}])"])
    try:
        time.sleep(0.2)
        sampler = MemorySampler(parent.pid, interval_s=0.02).start()
        baseline = sampler.sample()
        time.sleep(1.2)
        peak = sampler.stop()
        after = sampler.sample()
    finally:
        parent.kill()
        parent.wait()
    assert peak - baseline > 150 * 1024 * 1024
    assert after < peak - 100 * 1024 * 1024
    assert sampler.samples > 10

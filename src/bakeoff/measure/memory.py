"""Watching a server's memory and CPU: a background sampler of RSS over the process tree."""

from __future__ import annotations

import contextlib
import threading

import psutil


def tree_rss(process: psutil.Process) -> int:
    """RSS of a process and its children; a child that exits mid-count is simply left out."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def tree_cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


class MemorySampler:
    """Samples RSS every `interval_s` in a daemon thread and keeps the peak."""

    def __init__(self, pid: int, interval_s: float = 0.05):
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-sampler-{pid}", daemon=True)

    def start(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def sample(self) -> int | None:
        """The tree's RSS now; None once the process is gone (never 0: nothing was measured)."""
        try:
            rss = tree_rss(self.process)
        except psutil.NoSuchProcess:
            return None
        self.peak_bytes = max(self.peak_bytes, rss)
        self.samples += 1
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> int | None:
        """The peak RSS seen; None when not one sample could be taken."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.peak_bytes if self.samples else None

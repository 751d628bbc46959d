"""What a pull shows while it works: progress for people, the tools' own output in a log file.

A pull's long steps (download, build environment, convert, compile) each say when they start and
how long they took. On a terminal the start is one line redrawn in place while the step runs
(the step, what its tool is doing with a percent where one is known, the seconds so far), then
replaced by the line saying it is done; elsewhere (a CI log) the start and the end are a line
each, plus a line a minute for a step that runs long. What the tools print (pip, transformers,
the ONNX builder's per-tensor lines) goes to a log file, which is named once; when a tool fails,
the last lines of its output are shown and its error names the log.

Never imports runtimes, measuring, deciding, storing or showing.
"""

from __future__ import annotations

import collections
import ctypes
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bakeoff.errors import BakeoffError

Progress = Callable[[str], None]
# A tool's output line -> what the step is doing now ("de-quantizing tensors 45%"), or None.
Status = Callable[[str], str | None]

PREFIX = "bakeoff: "  # as the callers' progress lines begin
TICK_S = 0.5  # how often the terminal's line is redrawn (the seconds move even when the tool is quiet)
HEARTBEAT_S = 60.0  # away from a terminal: a line this often while a step runs
ERROR_TAIL_LINES = 5  # in the one-line error
SHOWN_TAIL_LINES = 15  # shown above it
CLEAR_LINE = "\r\033[K"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _dying_with_this_process() -> Callable[[], None] | None:
    """For Popen's preexec_fn: the tool gets SIGKILL when the thread that started it dies, however
    it dies (SIGKILL included), so a killed `bakeoff pull` leaves no compile worker (up to 0.9 GB
    for 40 s) or builder running. Linux's prctl(PR_SET_PDEATHSIG); elsewhere None (nothing to do)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    parent = os.getpid()

    def in_the_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return in_the_child


def took(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


@dataclass
class Step:
    done: str  # what the line that ends the step says, before "in 12.3s"; the step may change it


class StepLog:
    """The steps of one pull: `step()` around each, `run()` for each tool, `say()` for a line of news.

    `live` (default: whether `stream` is a terminal) chooses the line redrawn in place; the
    lines that stay are said through `progress`, which must write to the same terminal.
    """

    def __init__(self, progress: Progress, log_path: Path, *, live: bool | None = None, stream: TextIO | None = None):
        self.progress = progress
        self.log_path = log_path
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_terminal(self.stream) if live is None else live
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in close()
        self._log.write(f"bakeoff, {datetime.now(UTC).isoformat(timespec='seconds')}, pid {os.getpid()}\n")
        self._lock = threading.RLock()
        self._title: str | None = None  # of the step running
        self._detail = ""
        self._started = 0.0
        self._drawn = False

    def __enter__(self) -> StepLog:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._clear()
            self._log.close()

    def say(self, line: str) -> None:
        """A line that stays: in the progress output (above the live line) and in the log."""
        with self._lock:
            self._clear()
            self.progress(line)
            self._write_log(f"bakeoff: {line}\n")
            self._draw()

    def update(self, detail: str) -> None:
        """What the running step is doing now (shown on the live line at its next redraw, nowhere else)."""
        self._detail = detail

    @contextmanager
    def step(self, title: str, done: str) -> Iterator[Step]:
        """A step: `title` while it runs, then "`done` in 12.3s" (or "... failed after 12.3s")."""
        with self._lock:
            self._title, self._detail, self._started = title, "", time.monotonic()
            if self.live:
                self._write_log(f"bakeoff: {title}\n")
                self._draw()
            else:
                self.say(title)
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop, title), name="bakeoff-pull-progress", daemon=True)
        ticker.start()
        step = Step(done)
        try:
            yield step
        except BaseException:
            self._end(stop, ticker, f"{title}: failed after {took(time.monotonic() - self._started)}")
            raise
        self._end(stop, ticker, f"{step.done} in {took(time.monotonic() - self._started)}")

    def run(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: Path | None = None,
        env: dict | None = None,
        status: Status | None = None,
    ) -> None:
        """Run a tool with its output in the log (each redrawn bar only as it last stood); on a
        failure show its last lines and raise BakeoffError, one line, naming `name` and the log."""
        started = time.monotonic()
        tail: collections.deque[str] = collections.deque(maxlen=SHOWN_TAIL_LINES)
        self._write_log(f"$ {' '.join(argv)}\n")
        with subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            preexec_fn=_dying_with_this_process(),
        ) as proc:
            try:
                redraw = ""  # the latest state of a progress bar, kept until a finished line replaces it
                # newline="" keeps "\r", so a progress bar's redraws can be told from finished lines.
                assert proc.stdout is not None  # stdout=PIPE above
                for line in io.TextIOWrapper(proc.stdout, encoding="utf-8", errors="replace", newline=""):
                    text = line.rstrip("\r\n")
                    if status is not None and text.strip() and (detail := status(text)) is not None:
                        self.update(detail)
                    if not line.endswith("\n"):  # ends in a lone "\r": a redraw
                        redraw = text or redraw
                        continue
                    if not text and redraw:
                        text = redraw
                    redraw = ""
                    self._write_log(text + "\n")
                    if text.strip():
                        tail.append(text.strip())
                if redraw:
                    self._write_log(redraw + "\n")
                    tail.append(redraw.strip())
                proc.wait()
            except BaseException:
                proc.kill()
                raise
        self._write_log(f"(exit code {proc.returncode} after {took(time.monotonic() - started)})\n")
        if proc.returncode != 0:
            self.say(f"{name} failed; the last lines of its output ({self.log_path}):")
            for text in tail:
                self.say(f"  | {text}")
            last = " | ".join(list(tail)[-ERROR_TAIL_LINES:])
            raise BakeoffError(
                f"{name} failed (exit code {proc.returncode}); last output: {last}; full output: {self.log_path}"
            )

    # Drawing

    def _tick(self, stop: threading.Event, title: str) -> None:
        last_said = time.monotonic()
        while not stop.wait(TICK_S):
            with self._lock:
                if self.live:
                    self._draw()
                elif time.monotonic() - last_said >= HEARTBEAT_S:
                    last_said = time.monotonic()
                    detail = f", {self._detail}" if self._detail else ""
                    self.say(
                        f"still {title[0].lower()}{title[1:].split(' (')[0]}: {took(last_said - self._started)}{detail}"
                    )

    def _end(self, stop: threading.Event, ticker: threading.Thread, line: str) -> None:
        stop.set()
        ticker.join()
        with self._lock:
            self._title = None
            self.say(line)

    def _live_line(self) -> str:
        """The step, what it is doing and its seconds, within the terminal's width: a line that
        wrapped could not be redrawn. The title gives way first, so that the figures stay."""
        head = f"{PREFIX}{self._title}"
        tail = (f": {self._detail}" if self._detail else "") + f"  {time.monotonic() - self._started:.0f}s"
        room = _width(self.stream) - 1
        if len(head) + len(tail) > room:
            head = head[: max(room - len(tail) - 1, len(PREFIX) + 10)] + "…"
        return (head + tail)[:room]

    def _draw(self) -> None:
        if not (self.live and self._title):
            return
        self.stream.write(CLEAR_LINE + self._live_line())
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._drawn = False

    def _write_log(self, text: str) -> None:
        with self._lock:
            if not self._log.closed:
                self._log.write(text)
                self._log.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return shutil.get_terminal_size().columns

"""What bakeoff writes for people outside its reports: progress lines on stderr and the one-line
excerpts that error messages quote. Every stage may use it; it imports nothing of bakeoff."""

from __future__ import annotations

import sys


def progress(line: str) -> None:
    """A progress line on stderr ("bakeoff: ..."): a model being prepared, started or served."""
    print(f"bakeoff: {line}", file=sys.stderr, flush=True)


def shorten(text: str, limit: int = 160) -> str:
    """One line of at most `limit` characters, so a wall of garbage stays readable in one error."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

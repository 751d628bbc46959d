"""The source is held to its lint and type rules: ruff and mypy, configured in pyproject.toml, find
nothing in src/. Both run as subprocesses, as a contributor runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing_in_src_and_its_lines_fit_the_chosen_length():
    checked = run("ruff", "check", "--no-cache", "src")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = run("ruff", "format", "--check", "--no-cache", "src")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_mypy_finds_nothing_in_src():
    checked = run("mypy", "--no-incremental")
    assert checked.returncode == 0, checked.stdout + checked.stderr

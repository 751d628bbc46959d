"""A small valid project (models.json, prompts.yaml, pyproject.toml, reports) that each fuzz case
breaks in one place, and the two ways a case is run: the `bakeoff` command's `main()` and the
pytest plugin's start-up checks (`RunState.check_options` and `RunState.inputs`, what
pytest_configure and collection call), both in-process.

An outcome records the exit code, what went to stderr, and a traceback if anything escaped."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from bakeoff.errors import BakeoffError
from tests import synthetic_reports

DIRECTORY = object()  # a file's content that means "make a directory here"

MODELS = [
    {"name": "small-a", "task": "chat", "min_ram_gb": 1, "notes": "a", "family": "small", "runtime": "endpoint",
     "source": {"type": "openai-endpoint", "base_url": "http://127.0.0.1:9/v1", "model": "a"}, "default": True},
    {"name": "small-b", "task": "chat", "min_ram_gb": 2, "notes": "b", "runtimes": ["llamacpp"],
     "source": {"type": "gguf-file", "path": "b.gguf"}},
]

PROMPTS = """\
version: 1
defaults:
  repeats: 2
  max_tokens: 32
  temperature: 0
  min_pass_rate: 1.0
prompts:
  - id: hello
    text: Say hello.
    checks:
      - contains_any: [hello, hi]
  - id: chat
    messages:
      - {role: user, content: Hi}
      - {role: assistant, content: Hello}
      - {role: user, content: Bye}
    max_tokens: 16
    checks:
      - min_words: 1
"""

PYPROJECT = """\
[project]
name = "fuzzed"

[tool.bakeoff]
min_effect = 0.05
confidence = 0.95

[[tool.bakeoff.gates]]
metric = "ttft_s"
max_increase = 0.15
"""


def report_data(run_id: str, name: str = "small-a") -> dict:
    return synthetic_reports.simple_report(run_id, name=name).to_data()


@functools.cache
def valid_files() -> dict[str, object]:
    """Every file of the valid project, by path relative to its root."""
    base = report_data("base")
    return {
        "models.json": json.dumps(MODELS),
        "prompts.yaml": PROMPTS,
        "pyproject.toml": PYPROJECT,
        "reports/base.json": json.dumps(base),
        "reports/cand.json": json.dumps(report_data("cand")),
        "reports/latest.json": json.dumps(report_data("cand")),
        "reports/both.json": json.dumps(
            {**base, "run_id": "both", "models": base["models"] + report_data("x", name="small-b")["models"]}
        ),
    }


@dataclass
class Case:
    category: str
    name: str
    # The files that differ from the valid project (path -> text, bytes or DIRECTORY).
    files: dict[str, object]
    # `bakeoff` argv, or for the plugin the options {dest: value} of its command line.
    argv: list[str] | None = None
    plugin: dict | None = None
    # What the one line must name (the file, the entry, the field), besides the error itself.
    mentions: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.category}:{self.name}"


@dataclass
class Outcome:
    exit_code: int | None
    stderr: str
    stdout: str
    traceback: str | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def rejected_in_one_line(self) -> bool:
        return self.traceback is None and self.exit_code in (2, pytest.ExitCode.USAGE_ERROR) and len(self.lines) == 1

    def problem(self, case: Case) -> str | None:
        """Why this outcome misses the bar, or None."""
        if self.traceback is not None:
            return f"traceback:\n{self.traceback}"
        if self.exit_code not in (2, pytest.ExitCode.USAGE_ERROR):
            return f"accepted (exit {self.exit_code}); stdout {self.stdout[-300:]!r} stderr {self.stderr[-300:]!r}"
        if len(self.lines) != 1:
            return f"rejected in {len(self.lines)} lines: {self.lines!r}"
        missing = [m for m in case.mentions if m not in self.lines[0]]
        if missing:
            return f"the line does not name {missing}: {self.lines[0]!r}"
        return None


def lay_out(root: Path, changes: dict[str, object]) -> None:
    for relative, content in {**valid_files(), **changes}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            continue  # left out
        if content is DIRECTORY:
            path.mkdir(exist_ok=True)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def run(case: Case, root: Path) -> Outcome:
    """Lay the case's project out in `root` (empty) and run it there."""
    lay_out(root, case.files)
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(root)
    exit_code, trace = None, None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            exit_code = _run_plugin(case.plugin, root) if case.plugin is not None else _run_cli(case.argv)
    except BaseException:  # noqa: BLE001 - anything escaping is what the suite looks for
        trace = traceback.format_exc()
    finally:
        os.chdir(previous)
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    return Outcome(exit_code, err.getvalue(), out.getvalue(), trace, lines)


def _run_cli(argv: list[str]) -> int:
    from bakeoff import cli

    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's way out
        return exc.code


def _run_plugin(options: dict, root: Path) -> int:
    """What the plugin does before any test runs: pytest_configure's checks, then reading the
    registry and prompts at collection; a UsageError is pytest's one-line exit 4 ("ERROR: ...")."""
    from bakeoff.run_state import RunState

    defaults = {"bakeoff_models": None, "bakeoff_prompts": None, "bakeoff_reports": None, "bakeoff_baseline": None, "bakeoff_limit": []}
    config = SimpleNamespace(rootpath=root, getoption={**defaults, **options}.get)
    try:
        state = RunState(config)
        try:
            state.check_options()
        except BakeoffError as exc:  # as pytest_configure turns it
            raise pytest.UsageError(str(exc)) from None
        state.inputs("entries")
        if state.input_error is not None:  # as pytest_collection_modifyitems raises it
            raise pytest.UsageError(state.input_error)
    except pytest.UsageError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return pytest.ExitCode.USAGE_ERROR
    return pytest.ExitCode.OK

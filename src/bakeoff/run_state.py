"""The state of one pytest session of bakeoff: what it loaded, the report it builds, where that goes.

`RunState` (in the config's stash under `STATE`) reads and validates models.json, prompts.yaml and
[tool.bakeoff] on first use, keeps each model's `session.ModelRun`, finishes and saves the report
and draws its page. It also owns the session's SIGTERM handling: SIGTERM stops the run as Ctrl-C
does, and the report says it was terminated. No pytest hook lives here (plugin.py wires them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import pytest

from bakeoff.console import progress
from bakeoff.decide.checks import validate_prompts
from bakeoff.decide.compare import Comparison, compare_reports
from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt
from bakeoff.inputs.registry import MARKER_PREFIX, PYTEST_MARKS, ModelEntry, load_registry
from bakeoff.inputs.settings import Settings, load_settings
from bakeoff.inputs.sources import prompt_source
from bakeoff.measure.client import Limits
from bakeoff.model_run import ModelRun
from bakeoff.report.model import Report
from bakeoff.report.store import RunReport, load_report, publish_latest_html
from bakeoff.show.summary import run_view

if TYPE_CHECKING:
    from bakeoff.launch_order import Launches

STATE = pytest.StashKey["RunState"]()
SELECTOR = "bakeoff model selector"  # how the plugin describes the markers it registers


class RunState:
    """Per-session state: what was loaded, the report being built, where it goes."""

    def __init__(self, config: pytest.Config):
        self.config = config
        root = Path(config.rootpath)
        self.registry_path = Path(config.getoption("bakeoff_models") or root / "models.json")
        self.prompts_path = Path(config.getoption("bakeoff_prompts") or root / "prompts.yaml")
        self.reports_dir = Path(config.getoption("bakeoff_reports") or root / "reports")
        self.entries: list[ModelEntry] | None = None
        self.prompts: list[Prompt] | None = None
        self.input_error: str | None = None
        self.runs: dict[tuple[str, str], ModelRun] = {}
        self.report = RunReport(self.registry_path)
        self.report_path: Path | None = None
        self.html_path: Path | None = None
        self.html_error: str | None = None
        self.baseline_path = config.getoption("bakeoff_baseline")
        self.baseline: Report | None = None
        self.settings: Settings | None = None
        self.comparison: Comparison | None = None
        self.limits: Limits | None = None
        self.warned_marks = False
        self.launches: Launches | None = None
        self.tests_ran = False  # a test started: a session that stops before its models still reports why
        self.terminated = False  # SIGTERM came: the run stops as on Ctrl-C, its report says so
        self.workers_died: str | None = None  # xdist workers that died mid-run, and in which test
        self.finishing = False
        self._previous_sigterm: Callable[[int, FrameType | None], object] | int | None = None

    def check_options(self) -> None:
        """What the command line gives, checked before anything runs: BakeoffError, one line."""
        Limits.parse(self.config.getoption("bakeoff_limit") or [])
        self.load_baseline()

    def marks_taken(self) -> frozenset[str]:
        """pytest's own marks and those other plugins or the ini register: never a model's selector
        (a model named `xfail` or a family `integration` would change what runs or what passes)."""
        registered = {
            line.split(":")[0].split("(")[0].strip() for line in self.config.getini("markers") if SELECTOR not in line
        }
        taken = PYTEST_MARKS | registered
        renamed = sorted({name for entry in self.entries or [] for name in entry.selectors(set()) if name in taken})
        if renamed and not self.warned_marks:
            self.warned_marks = True
            warnings.warn(
                pytest.PytestConfigWarning(
                    f"models.json names pytest marks ({', '.join(renamed)}): select those models with "
                    f"-m {MARKER_PREFIX}NAME instead ({', '.join(MARKER_PREFIX + n for n in renamed)})"
                ),
                stacklevel=1,
            )
        return taken

    def load_baseline(self) -> None:
        if self.baseline_path:
            self.baseline = load_report(Path(self.baseline_path))
            self.settings = load_settings(Path(self.config.rootpath) / "pyproject.toml")

    def inputs(self, what: str) -> list:
        """The registry's entries or the prompts, read and validated on first use. A bad file is
        remembered (and the run stopped after collection) rather than raised inside collection."""
        if self.entries is None and self.input_error is None:
            try:
                self.entries = load_registry(self.registry_path)
                source = prompt_source(self.config.getoption("bakeoff_prompt_source"), self.prompts_path)
                self.prompts = source.items()
                validate_prompts(self.prompts)
                self.report.note_prompt_source(source.identity())
                self.settings = self.settings or load_settings(Path(self.config.rootpath) / "pyproject.toml")
                # [tool.bakeoff.limits], then --bakeoff-limit over it
                self.limits = Limits.parse(
                    self.config.getoption("bakeoff_limit") or [], base=Limits(**self.settings.limits)
                )
                _check_reports_dir(self.reports_dir, given=self.config.getoption("bakeoff_reports") is not None)
            except BakeoffError as exc:
                self.input_error = str(exc)
        return getattr(self, what) or []

    def conclude(self, exitstatus: int) -> bool:
        """The run's report finished, saved, compared with the baseline and drawn; False when the
        session fails for it (not written, a full disk: the summary says why; or a gate failed).
        Bad input, no model selected or nothing run (--collect-only): nothing to report, and the
        last run's latest.json is left as it is."""
        if self.input_error is not None or not self.report.report.models or not (self.runs or self.tests_ran):
            return True
        self.report_path = self.finish_report(exitstatus)
        if self.report_path is None:
            return False
        if self.baseline is not None:
            self.comparison = compare_reports(self.baseline, self.report.report, self.settings)
        self.write_html()
        return self.comparison is None or not self.comparison.failed

    def finish_report(self, exitstatus: int) -> Path | None:
        not_run = [m.name for m in self.report.report.models if m.status == "not_run"]
        if self.terminated:
            reason = "terminated (SIGTERM)"
        elif exitstatus == pytest.ExitCode.INTERRUPTED:
            reason = "interrupted"
        elif self.workers_died:
            reason = self.workers_died
        elif not_run:
            reason = f"models not run: {', '.join(not_run)}"
        else:
            reason = None
        self.report.finish(reason)
        return self.report.save(self.reports_dir)

    def write_html(self) -> None:
        """The page beside the JSON; a failure to draw it must not cost the run its result."""
        from bakeoff.show import (
            html_report,  # matplotlib loads in ~1 s: only for a session that reports
        )

        comparison = self.comparison.to_dict() if self.comparison is not None else None
        report = self.report.report
        try:
            self.html_path = html_report.save_html(
                run_view(report), self.reports_dir / f"{report.run_id}.html", comparison
            )
            # latest.html only beside a latest.json of this run (another run may have written it since).
            publish_latest_html(report, self.reports_dir, self.html_path)
        except Exception as exc:  # noqa: BLE001 - the JSON report is saved; say why the page is missing
            self.html_error = f"not written: {type(exc).__name__}: {exc}"

    def configured_launches(self) -> Launches:
        """The session's launch plan, set by pytest_configure before any test runs."""
        if self.launches is None:
            raise RuntimeError("bakeoff's launches are not configured: pytest_configure did not run")
        return self.launches

    def model_run(self, entry: ModelEntry) -> ModelRun:
        """The run of `entry` in this session, made on first use."""
        if entry.key not in self.runs:
            self.runs[entry.key] = ModelRun(
                self.report,
                entry,
                registry_path=self.registry_path,
                reports_dir=self.reports_dir,
                progress=self.progress,
                foreground=self.foreground,
                limits=self.limits,
                warmup=self.configured_launches().warmup,
            )
        return self.runs[entry.key]

    def handle_sigterm(self) -> None:
        """SIGTERM (what CI's timeout and `timeout` send) stops the run as Ctrl-C does: the servers are
        stopped and the report is written, incomplete, "terminated". Left alone when another handler
        is installed, or pytest does not run in the main thread."""
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        ):
            return

        def on_sigterm(signum, frame):
            if self.terminated or self.finishing:
                self.terminated = True
                return
            self.terminated = True
            raise KeyboardInterrupt("SIGTERM")

        self._previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)

    def restore_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def progress(self, line: str) -> None:
        """A progress line on stderr (a model being prepared or served)."""
        progress(line)

    @contextlib.contextmanager
    def foreground(self):
        """Let a long first-use step (pull, compile) show its progress through pytest's capture."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            yield


def _check_reports_dir(reports_dir: Path, given: bool) -> None:
    """Refuse a reports folder that cannot be made or written now, not after every test ran."""
    where = f"--bakeoff-reports {reports_dir}" if given else f"{reports_dir} (the reports folder)"
    existing = next(p for p in [reports_dir, *reports_dir.parents] if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise BakeoffError(f"{where}: cannot make a folder there: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BakeoffError(f"{where}: cannot write there: no permission in {existing}")

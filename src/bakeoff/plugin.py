"""The pytest plugin: wires the registry, runtimes, measuring, checks and reports into a session.

`model` is a session-scoped fixture parametrised from models.json (one server per model, started
through `bakeoff serve` and stopped before the next model starts); `prompt` is parametrised from
prompts.yaml; `evaluate` times a model x prompt with pytest-benchmark and records the outcome.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bakeoff import runtimes
from bakeoff.decide.compare import Comparison, compare_reports
from bakeoff.decide.evaluation import Verdict, judge
from bakeoff.inputs.settings import load_settings
from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt, load_prompts
from bakeoff.inputs.registry import ModelEntry, load_registry, ram_shortfall
from bakeoff.measure.client import ChatClient
from bakeoff.measure.memory import MemorySampler, tree_cpu_seconds
from bakeoff.report.model import PromptResult
from bakeoff.report.store import RunReport, load_report
from bakeoff.runtimes import ModelUnavailable
from bakeoff.runtimes.process import stop_all
from bakeoff.show import comparison_table, table
from bakeoff.show.summary import run_view
from bakeoff.weights import cache
from bakeoff.weights.pull import needs_fetch, prepare

STATE = pytest.StashKey["Bakeoff"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bakeoff", "bakeoff: local model evaluation")
    group.addoption("--bakeoff-models", metavar="PATH", help="model registry (default: models.json in the rootdir)")
    group.addoption("--bakeoff-prompts", metavar="PATH", help="prompts file (default: prompts.yaml in the rootdir)")
    group.addoption("--bakeoff-reports", metavar="DIR", help="where run reports go (default: reports/ in the rootdir)")
    group.addoption(
        "--bakeoff-baseline",
        metavar="REPORT",
        help="compare the run with this report at the end and fail the session when a gate in [tool.bakeoff] fails",
    )


def pytest_configure(config: pytest.Config) -> None:
    state = Bakeoff(config)
    config.stash[STATE] = state
    try:
        state.load_baseline()
    except BakeoffError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_all()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The input files are read only by a session whose tests use the bakeoff fixtures, so a broken
    # models.json does not stop `pytest tests/test_stats.py`.
    state = metafunc.config.stash[STATE]
    if "model" in metafunc.fixturenames:
        entries = state.inputs("entries")
        for marker in {m for entry in entries for m in entry.markers}:
            metafunc.config.addinivalue_line("markers", f"{marker}: bakeoff model selector")
        params = [
            pytest.param(entry, marks=[getattr(pytest.mark, m) for m in entry.markers], id=entry.label)
            for entry in entries
        ]
        metafunc.parametrize("model", params, indirect=True, scope="session")
    if "prompt" in metafunc.fixturenames:
        prompts = state.inputs("prompts")
        metafunc.parametrize("prompt", prompts, ids=[p.id for p in prompts])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Raised here, after collection and outside any one test file's collection, so that a bad
    # input file stops the run with one line (a usage error) before any model starts.
    error = config.stash[STATE].input_error
    if error is not None:
        raise pytest.UsageError(error)
    # A prompt written for other tasks (its `tasks` in prompts.yaml) is not asked of this model.
    off_task = [item for item in items if not _prompt_fits_model(item)]
    if off_task:
        config.hook.pytest_deselected(items=off_task)
        items[:] = [item for item in items if item not in off_task]


def _prompt_fits_model(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    entry, prompt = params.get("model"), params.get("prompt")
    return not (isinstance(entry, ModelEntry) and isinstance(prompt, Prompt)) or prompt.fits(entry.task)


def pytest_collection_finish(session: pytest.Session) -> None:
    # After deselection (-m, -k): the report lists exactly the models this session selected.
    state = session.config.stash[STATE]
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec and isinstance(callspec.params.get("model"), ModelEntry):
            state.report.model(callspec.params["model"])


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[STATE]
    stop_all()
    if not state.report.report.models:
        return  # no model evaluated in this session: nothing to report
    state.report_path = state.finish_report(exitstatus)
    if state.baseline is not None:
        state.comparison = compare_reports(state.baseline, state.report.report, state.settings)
        if state.comparison.failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    state.write_html()


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables, so the summary ends with our verdict
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[STATE]
    if state.report_path is None:
        return
    terminalreporter.section("bakeoff: model comparison")
    for line in table.run_lines(run_view(state.report.report)):
        terminalreporter.write_line(line)
    report = state.report.report
    suffix = f" (INCOMPLETE: {report.incomplete_reason})" if report.status == "incomplete" else ""
    terminalreporter.write_line(f"report: {state.report_path}{suffix}")
    terminalreporter.write_line(f"html: {state.html_path or state.html_error}")
    if state.comparison is not None:
        terminalreporter.section("bakeoff: against the baseline", red=state.comparison.failed, green=not state.comparison.failed)
        for line in comparison_table.comparison_lines(state.comparison, changes_only=True):
            terminalreporter.write_line(line)


@dataclass
class RunningModel:
    entry: ModelEntry
    url: str
    model_id: str
    pid: int | None  # None when there is no process to measure (an endpoint given without one)
    client: ChatClient

    @property
    def name(self) -> str:
        return self.entry.name


class Bakeoff:
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
        self.report = RunReport(self.registry_path, self.prompts_path)
        self.report_path: Path | None = None
        self.html_path: Path | None = None
        self.html_error: str | None = None
        self.baseline_path = config.getoption("bakeoff_baseline")
        self.baseline: dict | None = None
        self.settings = None
        self.comparison: Comparison | None = None

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
                self.prompts = load_prompts(self.prompts_path)
            except BakeoffError as exc:
                self.input_error = str(exc)
        return getattr(self, what) or []

    def finish_report(self, exitstatus: int) -> Path:
        not_run = [m.name for m in self.report.report.models if m.status == "not_run"]
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            reason = "interrupted"
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
        try:
            self.html_path = html_report.write_html(run_view(self.report.report), self.reports_dir, comparison)
        except Exception as exc:  # noqa: BLE001 - the JSON report is saved; say why the page is missing
            self.html_error = f"not written: {type(exc).__name__}: {exc}"

    @contextlib.contextmanager
    def running(self, entry: ModelEntry):
        record = self.report.model(entry)
        record.update(status="skipped", reason=ram_shortfall(entry))
        if record.reason:
            pytest.skip(record.reason)
        runtime_missing = runtimes.unavailable_reason(entry.runtime)
        if runtime_missing:
            record.reason = f"{entry.label}: {runtime_missing}"
            pytest.skip(record.reason)
        if (entry.needs_compile and not cache.is_pulled(entry)) or needs_fetch(entry):
            with self._terminal_output():
                self._fail_on_error(record, lambda: prepare(entry, progress=self._progress))
        record.weights_sha256 = (cache.read_manifest(entry) or {}).get("gguf_sha256") or entry.source.get("sha256")

        log_path = cache.cache_root() / "logs" / f"serve-{entry.name}-{entry.runtime}-{self.report.run_id}.log"
        server = runtimes.launch(entry, self.registry_path, log_path)
        try:
            ready = server.start()
        except ModelUnavailable as exc:
            record.reason = str(exc)
            pytest.skip(record.reason)
        except BakeoffError as exc:
            self._fail(record, str(exc))
        record.starts += 1
        api_key = os.environ.get(ready.api_key_env) if ready.api_key_env else None
        client = ChatClient(ready.url, ready.model_id, api_key=api_key)
        try:
            # No process to watch (a remote endpoint given without a pid): memory is not measured, never zero.
            sampler = MemorySampler(ready.pid).start() if ready.pid else None
            record.update(
                status="ran",
                reason=None,
                model_id=ready.model_id,
                runtime_version=ready.runtime_version,
                ready_seconds=ready.ready_seconds,
                load_seconds=ready.load_seconds,
                rss_after_load_bytes=sampler.sample() if sampler else None,
                memory_note=None if sampler else "not measured: no server process to watch (give source.pid)",
            )
            self.report.note_runtime(ready.runtime, ready.runtime_version)
            yield RunningModel(entry, ready.url, ready.model_id, ready.pid, client)
            if not server.alive():
                record.update(status="failed", reason=f"server exited during the tests: {server.log_tail()}")
            record.cpu_seconds = _cpu_seconds(ready.pid) if ready.pid else None
            record.peak_rss_bytes = sampler.stop() if sampler else None
        finally:
            client.close()
            server.stop()
            self.report.save(self.reports_dir)

    def record_prompt(self, entry: ModelEntry, prompt: Prompt, verdict: Verdict | None, error: str | None) -> None:
        self.report.model(entry).prompts.append(
            PromptResult(
                id=prompt.id,
                text=prompt.text,
                repeats=prompt.repeats,
                min_pass_rate=prompt.min_pass_rate,
                messages=prompt.messages,
                tasks=list(prompt.tasks),
                response_format=prompt.response_format,
                passed=bool(verdict and verdict.passed and not error),
                attempt_pass_rate=verdict.attempt_pass_rate if verdict else None,
                pass_k=verdict.pass_k if verdict else None,
                error=error,
                stats=verdict.stats if verdict else {},
                checks=verdict.check_records if verdict else [],
                samples=verdict.sample_records if verdict else [],
            )
        )

    def _fail_on_error(self, record: dict, action) -> None:
        try:
            action()
        except BakeoffError as exc:
            self._fail(record, str(exc))

    def _fail(self, record: dict, reason: str):
        record.update(status="failed", reason=reason)
        pytest.fail(reason, pytrace=False)

    def _progress(self, line: str) -> None:
        print(f"bakeoff: {line}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def _terminal_output(self):
        """Let a long first-use step (pull, compile) show its progress through pytest's capture."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            yield


def _cpu_seconds(pid: int) -> float | None:
    try:
        return tree_cpu_seconds(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return None


@pytest.fixture(scope="session")
def model(request: pytest.FixtureRequest):
    """A model served and ready, started once per session; its tests run back to back."""
    state = request.config.stash[STATE]
    with state.running(request.param) as running:
        yield running


@pytest.fixture
def evaluate(request: pytest.FixtureRequest, benchmark):
    """`evaluate(model, prompt)`: time the prompt's repeats, run its checks, record it all."""
    state = request.config.stash[STATE]

    def run(model: RunningModel, prompt: Prompt) -> Verdict:
        samples = []

        def one_request():
            samples.append(model.client.chat(prompt.messages, **prompt.request_options))

        benchmark.group = model.entry.label
        try:
            benchmark.pedantic(one_request, rounds=prompt.repeats, iterations=1, warmup_rounds=0)
        except Exception as exc:
            verdict = judge(prompt, samples) if samples else None
            state.record_prompt(model.entry, prompt, verdict, error=f"{type(exc).__name__}: {exc}")
            raise
        verdict = judge(prompt, samples)
        benchmark.extra_info.update(
            {f"{metric}_median": stat["median"] for metric, stat in verdict.stats.items() if stat}
        )
        state.record_prompt(model.entry, prompt, verdict, error=None)
        return verdict

    return run

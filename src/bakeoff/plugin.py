"""The pytest plugin: wires the registry, runtimes, measuring, checks and reports into a session.

`model` is a session-scoped fixture parametrised from models.json (one server per model, started
through `bakeoff serve` and stopped before the next model starts); `prompt` is parametrised from
prompts.yaml; `evaluate` times a model x prompt with pytest-benchmark and records the outcome.
Under pytest-xdist (`-n N`, `--tx`) each model x runtime goes whole to one worker and the controller
merges the workers' parts into the run's report (`Distributed`, `bakeoff.report.merge`).
Each model is launched `launches` times (`bakeoff_launch`, a session-scoped parameter under
`model`); `Launches` orders the tests launch by launch, every model's launch k before any
model's launch k+1, and leaves out a launch's test of a prompt that has no repeat in it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

import pytest

from bakeoff.decide.checks import validate_prompts
from bakeoff.decide.compare import Comparison, compare_reports
from bakeoff.decide.evaluation import Verdict, verdict_for
from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt
from bakeoff.inputs.registry import MARKER_PREFIX, PYTEST_MARKS, ModelEntry, load_registry
from bakeoff.inputs.settings import load_settings
from bakeoff.inputs.sources import prompt_source
from bakeoff.measure.client import Limits, ServerFault
from bakeoff.report.model import ModelRecord, Report
from bakeoff.report.store import RunReport, load_report, parse_report, part_path, publish_latest_html
from bakeoff.runtimes.process import stop_all
from bakeoff.session import ModelFailed, ModelRun, ModelSkipped, RunningModel, launch_repeats
from bakeoff.show import comparison_table, table
from bakeoff.show.summary import run_view

STATE = pytest.StashKey["Bakeoff"]()
SELECTOR = "bakeoff model selector"  # how the plugin describes the markers it registers


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bakeoff", "bakeoff: local model evaluation")
    group.addoption("--bakeoff-models", metavar="PATH", help="model registry (default: models.json in the rootdir)")
    group.addoption("--bakeoff-prompts", metavar="PATH", help="prompts file (default: prompts.yaml in the rootdir)")
    group.addoption(
        "--bakeoff-prompt-source",
        metavar="MODULE:FACTORY",
        help="read the prompts with this factory, given the --bakeoff-prompts location (default: a prompts.yaml file)",
    )
    group.addoption("--bakeoff-reports", metavar="DIR", help="where run reports go (default: reports/ in the rootdir)")
    group.addoption(
        "--bakeoff-baseline",
        metavar="REPORT",
        help="compare the run with this report at the end and fail the session when a gate in [tool.bakeoff] fails",
    )
    group.addoption(
        "--bakeoff-limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a bound on every request (bakeoff.measure.client.Limits: first_token_s, stall_s, decode_tokens_per_s, "
        "length_factor, max_request_s, ...), over [tool.bakeoff.limits] in pyproject.toml; repeat for several",
    )
    group.addoption(
        "--bakeoff-share-host",
        action="store_true",
        help="with -n/--tx: let several workers measure models on one machine at once (their timings disturb each "
        "other: the report says so and timing gates do not judge it)",
    )
    group.addoption(
        "--bakeoff-launches",
        type=int,
        metavar="N",
        help="start each model's server N times in the run, the prompts' repeats spread over them "
        "(default: launches in [tool.bakeoff], else 3)",
    )
    group.addoption(
        "--bakeoff-warmup",
        type=int,
        metavar="N",
        help="after each launch's first (cold) request, N requests that are not recorded (default: warmup in [tool.bakeoff], else 0)",
    )
    group.addoption(
        "--bakeoff-switch",
        metavar="A,B",
        help="a model-switch run: only models A and B (labels as in the test ids), launch by launch A1 B1 A2 B2 ..., "
        "for `bakeoff gate --from A --to B`",
    )


def pytest_configure(config: pytest.Config) -> None:
    from bakeoff import judge_plugin

    config.pluginmanager.register(judge_plugin, "bakeoff-judge")
    state = Bakeoff(config)
    config.stash[STATE] = state
    try:
        state.check_options()
        launches = Launches.from_config(config)
    except BakeoffError as exc:
        raise pytest.UsageError(str(exc)) from None
    state.launches = launches
    config.pluginmanager.register(launches, "bakeoff-launches")
    state.handle_sigterm()
    configure_distributed(config, state)


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_all()
    config.stash[STATE].restore_sigterm()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The input files are read only by a session whose tests use the bakeoff fixtures, so a broken
    # models.json does not stop `pytest tests/test_stats.py`.
    state = metafunc.config.stash[STATE]
    if "model" in metafunc.fixturenames:
        entries = state.inputs("entries")
        taken = state.marks_taken()
        selectors = {entry.key: entry.selectors(taken) for entry in entries}
        for marker in {m for markers in selectors.values() for m in markers} - taken:
            metafunc.config.addinivalue_line("markers", f"{marker}: {SELECTOR}")
        params = [
            pytest.param(entry, marks=[getattr(pytest.mark, m) for m in selectors[entry.key]], id=entry.label)
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
    # A prompt written for other tasks (its `tasks` in prompts.yaml) is not asked of this model;
    # a model not selected by default runs only when -m or -k picks models.
    picking = bool(config.getoption("markexpr") or config.getoption("keyword"))
    left_out = [item for item in items if not _prompt_fits_model(item) or not (picking or _selected_by_default(item))]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        dropped = set(left_out)
        items[:] = [item for item in items if item not in dropped]


def _selected_by_default(item: pytest.Item) -> bool:
    entry = getattr(getattr(item, "callspec", None), "params", {}).get("model")
    return not isinstance(entry, ModelEntry) or entry.selected_by_default


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


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.config.stash[STATE].tests_ran = True


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[STATE]
    state.finishing = True  # a SIGTERM from here on is noted, not raised: the report is being written
    stop_all()
    if state.report.part is not None:  # an xdist worker: its part of the report goes to the controller
        hand_over_part(session.config, state, exitstatus)
        return
    if state.input_error is not None or not state.report.report.models or not (state.runs or state.tests_ran):
        # Stopped by bad input, no model selected, or nothing run at all (--collect-only): nothing
        # to report, and the last run's latest.json is left as it is.
        return
    state.report_path = state.finish_report(exitstatus)
    if state.report_path is None:  # not written (a full disk): the summary says why, and the run fails
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    if state.baseline is not None:
        state.comparison = compare_reports(state.baseline, state.report.report, state.settings)
        if state.comparison.failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    state.write_html()


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables, so the summary ends with our verdict
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[STATE]
    if state.report_path is None:
        if state.report.save_error:
            terminalreporter.write_line(f"bakeoff: error: {state.report.save_error}", red=True)
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
        self.runs: dict[tuple[str, str], ModelRun] = {}
        self.report = RunReport(self.registry_path)
        self.report_path: Path | None = None
        self.html_path: Path | None = None
        self.html_error: str | None = None
        self.baseline_path = config.getoption("bakeoff_baseline")
        self.baseline: Report | None = None
        self.settings = None
        self.comparison: Comparison | None = None
        self.limits: Limits | None = None
        self.warned_marks = False
        self.launches: Launches | None = None
        self.tests_ran = False  # a test started: a session that stops before its models still reports why
        self.terminated = False  # SIGTERM came: the run stops as on Ctrl-C, its report says so
        self.workers_died: str | None = None  # xdist workers that died mid-run, and in which test
        self.finishing = False
        self._previous_sigterm = None

    def check_options(self) -> None:
        """What the command line gives, checked before anything runs: BakeoffError, one line."""
        Limits.parse(self.config.getoption("bakeoff_limit") or [])
        self.load_baseline()

    def marks_taken(self) -> set[str]:
        """pytest's own marks and those other plugins or the ini register: never a model's selector
        (a model named `xfail` or a family `integration` would change what runs or what passes)."""
        registered = {line.split(":")[0].split("(")[0].strip() for line in self.config.getini("markers") if SELECTOR not in line}
        taken = PYTEST_MARKS | registered
        renamed = sorted({name for entry in self.entries or [] for name in entry.selectors(set()) if name in taken})
        if renamed and not self.warned_marks:
            self.warned_marks = True
            warnings.warn(pytest.PytestConfigWarning(
                f"models.json names pytest marks ({', '.join(renamed)}): select those models with "
                f"-m {MARKER_PREFIX}NAME instead ({', '.join(MARKER_PREFIX + n for n in renamed)})"
            ))
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
                self.limits = Limits.parse(self.config.getoption("bakeoff_limit") or [], base=Limits(**self.settings.limits))
                _check_reports_dir(self.reports_dir, given=self.config.getoption("bakeoff_reports") is not None)
            except BakeoffError as exc:
                self.input_error = str(exc)
        return getattr(self, what) or []

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
            self.html_path = html_report.save_html(run_view(report), self.reports_dir / f"{report.run_id}.html", comparison)
            # latest.html only beside a latest.json of this run (another run may have written it since).
            publish_latest_html(report, self.reports_dir, self.html_path)
        except Exception as exc:  # noqa: BLE001 - the JSON report is saved; say why the page is missing
            self.html_error = f"not written: {type(exc).__name__}: {exc}"

    def model_run(self, entry: ModelEntry) -> ModelRun:
        """The run of `entry` in this session, made on first use."""
        if entry.key not in self.runs:
            self.runs[entry.key] = ModelRun(
                self.report,
                entry,
                registry_path=self.registry_path,
                reports_dir=self.reports_dir,
                progress=self._progress,
                foreground=self._terminal_output,
                limits=self.limits,
                warmup=self.launches.warmup,
            )
        return self.runs[entry.key]

    def handle_sigterm(self) -> None:
        """SIGTERM (what CI's timeout and `timeout` send) stops the run as Ctrl-C does: the servers are
        stopped and the report is written, incomplete, "terminated". Left alone when another handler
        is installed, or pytest does not run in the main thread."""
        if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
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

    def _progress(self, line: str) -> None:
        print(f"bakeoff: {line}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def _terminal_output(self):
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


class Launches:
    """How many times each model is launched in the session, and the tests' order: launch by launch."""

    def __init__(self, count: int, warmup: int, switch: list[str] | None):
        self.count = count
        self.warmup = warmup
        self.switch = switch  # the two labels of a model-switch run, in order

    @classmethod
    def from_config(cls, config: pytest.Config) -> Launches:
        settings = load_settings(Path(config.rootpath) / "pyproject.toml")
        count = config.getoption("bakeoff_launches")
        count = settings.launches if count is None else count
        warmup = config.getoption("bakeoff_warmup")
        warmup = settings.warmup if warmup is None else warmup
        if count < 1:
            raise BakeoffError(f"--bakeoff-launches {count}: must be 1 or more")
        if warmup < 0:
            raise BakeoffError(f"--bakeoff-warmup {warmup}: must be 0 or more")
        switch = config.getoption("bakeoff_switch")
        labels = [label.strip() for label in switch.split(",")] if switch else None
        if labels is not None and (len(labels) != 2 or not all(labels) or labels[0] == labels[1]):
            raise BakeoffError(f"--bakeoff-switch {switch!r}: expected two different model labels, A,B")
        return cls(count, warmup, labels)

    @pytest.hookimpl(trylast=True)  # the launch last in the test id, "MODEL-PROMPT-launchN": the id still begins with the model
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "bakeoff_launch" in metafunc.fixturenames and self.count > 1:
            metafunc.parametrize(
                "bakeoff_launch", range(self.count), indirect=True, scope="session", ids=[f"launch{k + 1}" for k in range(self.count)]
            )

    @pytest.hookimpl(trylast=True)  # after the plugin's own selection and pytest's fixture ordering
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.switch is not None:
            labels = {_entry(item).label for item in items if _entry(item)}
            unknown = [label for label in self.switch if label not in labels]
            if unknown:
                raise pytest.UsageError(f"--bakeoff-switch: no model {', '.join(unknown)} in this run; models: {', '.join(sorted(labels))}")
        left_out = [item for item in items if _entry(item) and (not self._in_switch(item) or self.repeats_in(item) == 0)]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if item not in set(left_out)]
        # Launch by launch (A1 B1 A2 B2 ...), so drift over the run hits every model alike; one
        # server at a time, as each launch's server stops before the next starts.
        models = list(dict.fromkeys(entry.label for item in items if (entry := _entry(item))))
        if self.switch is not None:
            models = self.switch
        slots = [index for index, item in enumerate(items) if _entry(item)]
        ordered = sorted((items[index] for index in slots), key=lambda item: (_launch(item), models.index(_entry(item).label)))
        for index, item in zip(slots, ordered):
            items[index] = item

    def repeats_in(self, item: pytest.Item) -> int:
        """The repeats of the item's prompt that run in the item's launch."""
        prompt = _params(item).get("prompt")
        if not isinstance(prompt, Prompt):
            return 1
        return launch_repeats(prompt.repeats, self.count, _launch(item), offset=_prompt_position(item))

    def _in_switch(self, item: pytest.Item) -> bool:
        return self.switch is None or _entry(item).label in self.switch


def _params(item: pytest.Item) -> dict:
    return getattr(getattr(item, "callspec", None), "params", {})


def _entry(item: pytest.Item) -> ModelEntry | None:
    entry = _params(item).get("model")
    return entry if isinstance(entry, ModelEntry) else None


def _launch(item: pytest.Item) -> int:
    return _params(item).get("bakeoff_launch", 0)


def _prompt_position(item: pytest.Item) -> int:
    prompts = item.config.stash[STATE].prompts or []
    prompt = _params(item).get("prompt")
    return next((index for index, p in enumerate(prompts) if p is prompt), 0)


@pytest.fixture(scope="session")
def bakeoff_launch(request: pytest.FixtureRequest) -> int:
    """Which launch of the models this test runs in (0-based); a new value restarts the model."""
    return getattr(request, "param", 0)


@pytest.fixture(scope="session")
def model(request: pytest.FixtureRequest, bakeoff_launch: int):
    """A model served and ready, started once per launch; its tests in that launch run back to back."""
    run = request.config.stash[STATE].model_run(request.param)
    if run.gave_up:  # it stopped answering in an earlier launch: do not start it again
        pytest.fail(f"not started again: {run.gave_up}", pytrace=False)
    try:
        with run.serving(bakeoff_launch) as running:
            yield running
    except ModelSkipped as skipped:
        pytest.skip(str(skipped))
    except ModelFailed as failed:
        pytest.fail(str(failed), pytrace=False)


@pytest.fixture
def evaluate(request: pytest.FixtureRequest, benchmark):
    """`evaluate(model, prompt)`: time the prompt's repeats in this launch, run its checks over the
    attempts of every launch so far, record it all."""
    state = request.config.stash[STATE]

    def run(model: RunningModel, prompt: Prompt) -> Verdict:
        model_run = state.model_run(model.entry)
        samples = model_run.samples_of(prompt)
        if model_run.gave_up:  # the server stopped answering earlier: do not wait on it again
            model_run.record_prompt(prompt, None, error=f"not asked: {model_run.gave_up}")
            pytest.fail(f"not asked: {model_run.gave_up}", pytrace=False)

        def one_request():
            samples.append(model.chat(prompt.messages, **prompt.request_options))

        def warm_up():  # outside the timed round
            model.warm_up(prompt.messages, **prompt.request_options)

        benchmark.group = model.entry.label
        fault_line = None
        try:
            ask_repeats(benchmark, one_request, state.launches.repeats_in(request.node), setup=warm_up)
        except ServerFault as fault:
            fault_line = model_run.server_fault(fault)
            model_run.record_prompt(prompt, verdict_for(prompt, samples) if samples else None, error=str(fault))
        except Exception as exc:
            verdict = verdict_for(prompt, samples) if samples else None
            model_run.record_prompt(prompt, verdict, error=f"{type(exc).__name__}: {exc}")
            raise
        if fault_line is not None:  # outside the except: one line, no chained traceback
            pytest.fail(fault_line, pytrace=False)
        verdict = verdict_for(prompt, samples)
        benchmark.extra_info.update(
            {f"{metric}_median": stat["median"] for metric, stat in verdict.stats.items() if stat}
        )
        model_run.record_prompt(prompt, verdict, error=None)
        if not verdict.passed and not model.entry.must_pass_checks:
            pytest.xfail(f"{model.entry.label} (must_pass_checks: false): {verdict.failure_message}")
        return verdict

    return run


def ask_repeats(benchmark, one_request, repeats: int, setup) -> None:
    """The prompt's repeats (in this launch), timed by pytest-benchmark as its rounds, `setup` before
    each outside the timing. Disabled (--benchmark-disable, or under xdist, where it turns itself
    off) it would call once: our own figures come from each request (bakeoff.measure), so the
    repeats are asked all the same."""
    if benchmark.disabled:
        for _ in range(repeats):
            setup()
            one_request()
    else:
        benchmark.pedantic(one_request, setup=setup, rounds=repeats, iterations=1, warmup_rounds=0)


# --- Distributed runs (pytest-xdist): each model x runtime on one worker, one merged report ------


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    # Before xdist's own hook turns `-n N` into `--dist load`: with no --dist given, a model's
    # tests go whole to one worker (model_scheduling).
    if getattr(config.option, "dist", None) == "no" and (config.option.numprocesses or config.option.tx):
        config.option.dist = "loadgroup"
    return (yield)


def configure_distributed(config: pytest.Config, state: Bakeoff) -> None:
    """On the controller of a distributed run: refuse what would split a model or share a machine
    unasked, and merge what the workers send. On a worker: take the controller's run id."""
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None:
        if "bakeoff_run_id" in worker_input:
            state.report.report.run_id = worker_input["bakeoff_run_id"]
            state.report.part = worker_input["workerid"]
            config.pluginmanager.register(Distributed(state), "bakeoff-distributed")
        return
    if getattr(config.option, "dist", "no") == "no" or not config.option.tx:
        return
    if config.option.dist != "loadgroup":
        raise pytest.UsageError(
            f"bakeoff: --dist {config.option.dist} would split a model's prompts across workers, each starting "
            "its server; leave --dist out (bakeoff gives each model x runtime to one worker)"
        )
    crowded = _crowded_hosts(config)
    if crowded and not config.getoption("bakeoff_share_host"):
        raise pytest.UsageError(
            f"bakeoff: {crowded} would measure models at the same time and disturb each other's timings; give "
            "each worker its own machine (--tx ssh=HOST//python=PYTHON) or allow it with --bakeoff-share-host"
        )
    state.inputs("entries")
    if state.input_error is not None:
        raise pytest.UsageError(state.input_error)
    config.pluginmanager.register(Distributed(state), "bakeoff-distributed")


def _crowded_hosts(config: pytest.Config) -> str | None:
    """'N workers on HOST' for the first host given several workers, None when each has its own."""
    import execnet
    from xdist.workermanage import parse_tx_spec_config

    hosts: dict[str, int] = {}
    for spec in map(execnet.XSpec, parse_tx_spec_config(config)):
        host = spec.ssh or spec.socket or "this machine"
        hosts[host] = hosts.get(host, 0) + 1
    return next((f"{count} workers on {host}" for host, count in hosts.items() if count > 1), None)


def hand_over_part(config: pytest.Config, state: Bakeoff, exitstatus: int) -> None:
    """A worker's end: its part of the report (the models it ran) is saved and sent to the controller,
    with every model the session selected (those no worker ran stay in the report, not run)."""
    if state.input_error is not None:
        return
    report = state.report.report
    selected = [record.model_dump(mode="json") for record in report.models]
    report.models = [record for record in report.models if record.key in state.runs]
    state.finish_report(exitstatus)
    config.workeroutput["bakeoff"] = {"report": report.to_data(), "selected": selected}


def model_scheduling(config: pytest.Config, log, state: Bakeoff):
    """xdist's scope scheduler with one scope per model x runtime: every test of a model goes to the
    worker that started its server. (xdist_group marks would do it, but loadgroup cannot rename
    node ids under pytest 9.2, so the scope is read from the test id: its model's label.)"""
    from xdist.scheduler import LoadScopeScheduling

    labels = sorted((entry.label for entry in state.inputs("entries")), key=len, reverse=True)

    class ModelScheduling(LoadScopeScheduling):
        def __init__(self, config, log):
            super().__init__(config, log)
            self.crashed: dict[str, tuple[str, str]] = {}  # scope -> (worker, test) of a worker that died in it

        def remove_node(self, node) -> str | None:
            # As LoadScopeScheduling's, except that the model a worker died in is not given to another
            # worker: that would start its server a second time and ask its prompts again (and die
            # again, if the model is what kills it). What the dead worker saved of it stays.
            workload = self.assigned_work.pop(node)
            pending = [(scope, test) for scope, unit in workload.items() for test, done in unit.items() if not done]
            if not pending:
                return None
            scope, crashitem = pending[0]
            self.crashed[scope] = (node.gateway.id, crashitem)
            self.workqueue.update((other, unit) for other, unit in workload.items() if other != scope)
            for other_node in self.assigned_work:
                self._reschedule(other_node)
            return crashitem

        def _split_scope(self, nodeid: str) -> str:
            params = nodeid[nodeid.find("[") + 1 : -1] if nodeid.endswith("]") else ""
            return next((f"model {label}" for label in labels if params == label or params.startswith(f"{label}-")), nodeid)

    return ModelScheduling(config, log)


class Distributed:
    """The xdist side of a session: the model scheduler and the merge on the controller, the hand-over on a worker."""

    def __init__(self, state: Bakeoff):
        self.state = state
        self.workers: list[str] = []
        self.scheduler = None
        self.outputs: dict[str, dict | None] = {}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):
        self.scheduler = model_scheduling(config, log, self.state)
        return self.scheduler

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput["bakeoff_run_id"] = self.state.report.run_id
        self.workers.append(node.gateway.id)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        self.outputs[node.gateway.id] = getattr(node, "workeroutput", {}).get("bakeoff")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):
            return
        from bakeoff.report.merge import Part, merge

        state = self.state
        parts, selected = [], {}
        for worker in self.workers:
            output = self.outputs.get(worker) or self._left_on_disk(worker)
            if output is None:
                continue
            for record in map(ModelRecord.model_validate, output["selected"]):
                selected.setdefault(record.key, record)
            parts.append(Part(parse_report(output["report"], where=f"worker {worker}"), f"worker {worker}", worker=worker))
        if not parts:
            return
        merged = merge(parts, run_id=state.report.run_id)
        by_key = {m.key: m for m in merged.models}
        merged.models = [by_key.get(key, record) for key, record in selected.items()]
        merged.started_at = state.report.report.started_at
        died = []
        for scope, (worker, test) in getattr(self.scheduler, "crashed", {}).items():
            died.append(f"worker {worker} died during {test}")
            for entry in state.inputs("entries"):
                if scope == f"model {entry.label}" and entry.key in by_key:
                    by_key[entry.key].update(status="failed", reason=f"its worker {worker} died during {test}; the prompts after it were not asked")
        state.workers_died = "; ".join(died) or None
        state.report.report = merged
        state.tests_ran = state.tests_ran or any(m.status != "not_run" for m in merged.models)

    def _left_on_disk(self, worker: str) -> dict | None:
        """What a worker that died saved of its part (a local worker: the controller's disk is its disk)."""
        path = part_path(self.state.reports_dir, self.state.report.run_id, worker)
        try:
            report = load_report(path)
        except BakeoffError:
            return None
        selected = [record.model_dump(mode="json") for record in report.models]
        report.models = [record for record in report.models if record.status != "not_run"]
        return {"report": report.to_data(), "selected": selected}

    def pytest_terminal_summary(self, terminalreporter) -> None:
        distribution = self.state.report.report.distribution
        if self.state.report_path is None or distribution is None:
            return
        terminalreporter.section("bakeoff: distributed run")
        for worker in distribution.workers:
            terminalreporter.write_line(f"{worker.id} on {worker.host}: {', '.join(worker.models) or 'no model'}")
        for note in distribution.notes:
            terminalreporter.write_line(f"note: {note}", yellow=True)
        if distribution.shared_host:
            terminalreporter.write_line("timing gates do not judge this report's timings (its checks and memory they do)", yellow=True)

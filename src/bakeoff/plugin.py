"""The pytest plugin: wires the registry, runtimes, measuring, checks and reports into a session.

`model` is a session-scoped fixture parametrised from models.json (one server per model, started
through `bakeoff serve` and stopped before the next model starts); `prompt` is parametrised from
prompts.yaml; `evaluate` times a model x prompt with pytest-benchmark and records the outcome.
Only the wiring lives here; what it wires, each in its own module:

    run_state.RunState       what the session loaded, the report it builds, SIGTERM
    launch_order.Launches    each model launched N times, the tests ordered launch by launch
    distributed              -n/--tx: each model x runtime whole on one worker, one merged report
    judge_plugin.JudgePlugin model-graded checks, run after every candidate answered
    options.add_options      the --bakeoff-* options
"""

from __future__ import annotations

import functools

import pytest

from bakeoff.asking import ask_prompt
from bakeoff.decide.evaluation import Verdict
from bakeoff.distributed import configure_distributed, default_dist, hand_over_part
from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt
from bakeoff.inputs.registry import ModelEntry
from bakeoff.judge_plugin import JudgePlugin
from bakeoff.launch_order import Launches
from bakeoff.measure.workload import Sequential, one_by_one
from bakeoff.model_run import ModelFailed, ModelSkipped, RunningModel
from bakeoff.options import add_options
from bakeoff.run_state import SELECTOR, STATE, RunState
from bakeoff.runtimes.process import stop_all
from bakeoff.show import comparison_table, table
from bakeoff.show.summary import run_view


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    default_dist(config)  # before xdist's own hook turns `-n N` into `--dist load`
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    state = RunState(config)
    config.stash[STATE] = state
    config.pluginmanager.register(JudgePlugin(state), "bakeoff-judge")
    try:
        state.check_options()
        launches = Launches.from_config(config, prompts=lambda: state.prompts or [])
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
    if not state.conclude(exitstatus) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
        terminalreporter.section(
            "bakeoff: against the baseline", red=state.comparison.failed, green=not state.comparison.failed
        )
        for line in comparison_table.comparison_lines(state.comparison, changes_only=True):
            terminalreporter.write_line(line)


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
    """`evaluate(model, prompt)`: ask the prompt's repeats in this launch, timed by pytest-benchmark
    (`bakeoff.asking` sends, decides and records), and pass, fail or xfail on the outcome."""
    state = request.config.stash[STATE]

    def run(model: RunningModel, prompt: Prompt) -> Verdict:
        benchmark.group = model.entry.label
        rounds = functools.partial(ask_repeats, benchmark)
        repeats = state.configured_launches().repeats_in(request.node)
        asked = ask_prompt(state.model_run(model.entry), model, prompt, repeats, Sequential(rounds))
        verdict = asked.verdict
        if verdict is None:  # it failed before a verdict: `failure` says how
            pytest.fail(asked.failure or "no verdict", pytrace=False)
        benchmark.extra_info.update(
            {f"{metric}_median": stat["median"] for metric, stat in verdict.stats.items() if stat}
        )
        if asked.expected_failure is not None:
            pytest.xfail(asked.expected_failure)
        return verdict

    return run


def ask_repeats(benchmark, one_request, repeats: int, setup) -> None:
    """The prompt's repeats (in this launch), timed by pytest-benchmark as its rounds, `setup` before
    each outside the timing. Disabled (--benchmark-disable, or under xdist, where it turns itself
    off) it would call once: our own figures come from each request (bakeoff.measure), so the
    repeats are asked all the same."""
    if benchmark.disabled:
        one_by_one(one_request, repeats, setup)
    else:
        benchmark.pedantic(one_request, setup=setup, rounds=repeats, iterations=1, warmup_rounds=0)

"""The pytest wiring of model-graded (`judge`) checks, beside plugin.py's, which registers a
`JudgePlugin` with the session's state.

Only prompts with a `judge` check get judge items: `judged` is parametrised with each model x such
prompt (with the model's markers, so `-m` and `-k` pick them with their model), and the items run
at the end of the session, after every candidate answered, through one judge server per judge
model (`judging.JudgeServers`). A run without a judge check has no judge item and starts no judge.
"""

from __future__ import annotations

import inspect

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import ModelEntry, find
from bakeoff.judging import JudgeServers, JudgeUnavailable, grade_prompt
from bakeoff.run_state import RunState


class JudgePlugin:
    """The judge items, hooks and fixtures of a session whose state is `state`."""

    def __init__(self, state: RunState):
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(self, collector, name: str, obj):
        # A session whose prompts have no judge check collects no judge test at all: not even one
        # for an empty parameter set.
        if not (inspect.isfunction(obj) and name.startswith("test") and "judged" in inspect.signature(obj).parameters):
            return None
        return None if any(p.judge for p in self.state.inputs("prompts")) else []

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "judged" not in metafunc.fixturenames:
            return
        state = self.state
        entries, prompts = state.inputs("entries"), state.inputs("prompts")
        params = []
        for prompt in prompts:
            if prompt.judge is None:
                continue
            try:
                find(entries, prompt.judge)
            except BakeoffError as exc:
                state.input_error = state.input_error or f"{state.prompts_path}: prompt {prompt.id}: judge model: {exc}"
                continue
            params += [
                pytest.param(
                    (entry, prompt),
                    marks=[getattr(pytest.mark, m) for m in entry.markers],
                    id=f"{entry.label}-{prompt.id}",
                )
                for entry in entries
                if prompt.fits(entry.task)
            ]
        metafunc.parametrize("judged", params)

    @pytest.hookimpl(trylast=True)  # after plugin.py's deselection
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        # A judge item of a model not selected by default goes with its model; judge items run last.
        picking = bool(config.getoption("markexpr") or config.getoption("keyword"))
        judged: list[pytest.Item] = []
        unused: list[pytest.Item] = []
        rest: list[pytest.Item] = []
        for item in items:
            if not isinstance(item, pytest.Function) or "judged" not in item.fixturenames:
                rest.append(item)
            elif picking or _judged_model(item).selected_by_default:
                judged.append(item)
            else:
                unused.append(item)
        if unused:
            config.hook.pytest_deselected(items=unused)
        items[:] = rest + judged

    @pytest.fixture(scope="session")
    def judge_servers(self):
        state = self.state
        servers = JudgeServers(state.registry_path, state.report.report.run_id, state.progress, state.foreground)
        yield servers
        servers.stop()

    @pytest.fixture
    def judge(self, judge_servers: JudgeServers):
        """`judge(judged)`: grade a model's recorded answers to a prompt with the prompt's judge model."""
        state = self.state

        def run(judged):
            entry, prompt = judged
            record = next((p for p in state.report.model(entry).prompts if p.id == prompt.id), None)
            if record is None or not record.samples:
                pytest.skip(f"{entry.label} gave no answer to {prompt.id} to judge")
            try:
                judge_model = judge_servers.serving(find(state.inputs("entries"), prompt.judge))
            except JudgeUnavailable as exc:
                judge_model = exc
            result = grade_prompt(prompt, record, entry, judge_model)
            state.report.save(state.reports_dir)
            if not result.passed:
                failing = next(s.checks[-1].detail for s in record.samples if not s.checks[-1].passed)
                message = f"judge check passed {result.passes} of {result.attempts} attempts; {failing}"
                if not entry.must_pass_checks:
                    pytest.xfail(f"{entry.label} (must_pass_checks: false): {message}")
                pytest.fail(message, pytrace=False)
            return result

        return run


def _judged_model(item: pytest.Function) -> ModelEntry:
    """The candidate model of a judge item, whose `judged` parameter is (model, prompt)."""
    judged = item.callspec.params["judged"]
    if not (isinstance(judged, tuple) and isinstance(judged[0], ModelEntry)):
        raise TypeError(f"{item.nodeid}: `judged` is not (model, prompt)")
    return judged[0]

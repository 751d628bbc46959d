"""A session spread over pytest-xdist workers (`-n N`, `--tx`): each model x runtime on one worker, one report.

On the controller, `Distributed` refuses what would split a model over workers or crowd one
machine unasked, schedules every test of a model to one worker (`ModelScheduling`) and merges the
parts the workers hand over into the run's report (`bakeoff.report.merge`); a worker that died
leaves what it saved on disk, and its model is not started again elsewhere. On a worker, it takes
the controller's run id and hands its part of the report over at the end (`hand_over_part`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import execnet
import pytest
from xdist.scheduler import LoadGroupScheduling
from xdist.workermanage import WorkerController, parse_tx_spec_config

from bakeoff.errors import BakeoffError
from bakeoff.report.merge import Part, merge
from bakeoff.report.model import ModelRecord
from bakeoff.report.store import load_report, parse_report, part_path
from bakeoff.run_state import RunState

GROUP = "bakeoff-model-"  # a model's test ids, tagged for loadgroup: `TEST_ID@bakeoff-model-N`


def default_dist(config: pytest.Config) -> None:
    """With -n or --tx and no --dist: a model's tests go whole to one worker (loadgroup, our scheduler).
    Called before xdist's own `pytest_cmdline_main` turns `-n N` into `--dist load`."""
    if getattr(config.option, "dist", None) == "no" and (config.option.numprocesses or config.option.tx):
        config.option.dist = "loadgroup"


class ModelScheduling(LoadGroupScheduling):
    """xdist's loadgroup scheduling with one group per model x runtime: every test of a model goes to
    the worker that started its server, and a worker runs one model's tests, then the next's.

    Each test of a model is given the group tag an `xdist_group` mark would give it (`@GROUP`),
    here on the controller, from the model's label at the start of the test's parameters: the mark
    itself would have to rename node ids on the workers, which loadgroup cannot do under pytest
    9.2. The tags stay inside the scheduler: a crashed test is reported by its own id.
    """

    def __init__(self, config: pytest.Config, log, labels: Iterable[str]):
        super().__init__(config, log)
        self.labels = sorted(labels, key=len, reverse=True)  # "m@llamacpp" is tried before "m"
        self.tagged: dict[str, str] = {}  # tagged test id -> its own id
        self.crashed: dict[str, tuple[str, str]] = {}  # model label -> (worker, test) of a worker that died in it

    def model_of(self, nodeid: str) -> str | None:
        """The label of the model a test id runs, None for a test of no model."""
        params = nodeid[nodeid.find("[") + 1 : -1] if nodeid.endswith("]") else ""
        return next((label for label in self.labels if params == label or params.startswith(f"{label}-")), None)

    def add_node_collection(self, node: WorkerController, collection: Sequence[str]) -> None:
        super().add_node_collection(node, [self._tag(nodeid) for nodeid in collection])

    def remove_node(self, node: WorkerController) -> str | None:
        """As loadgroup's, except that the model a worker died in is not given to another worker:
        that would start its server a second time and ask its prompts again (and die again, if the
        model is what kills it). What the dead worker saved of it stays. Returns the test it died in."""
        unfinished = next(
            (
                (group, test)
                for group, unit in self.assigned_work[node].items()
                for test, done in unit.items()
                if not done
            ),
            None,
        )
        if unfinished is None:
            return super().remove_node(node)
        group, test = unfinished
        del self.assigned_work[node][group]  # not queued again by loadgroup's removal below
        super().remove_node(node)  # the worker's other groups, not begun, go back to the queue
        crashed = self.tagged.get(test, test)
        self.crashed[self.model_of(crashed) or crashed] = (node.gateway.id, crashed)
        return crashed

    def _tag(self, nodeid: str) -> str:
        label = self.model_of(nodeid)
        if label is None:
            return nodeid  # not a model's test: a group of its own, as loadgroup makes it
        tagged = f"{nodeid}@{GROUP}{self.labels.index(label)}"  # labels may hold '@': the tag may not
        self.tagged[tagged] = nodeid
        return tagged


def configure_distributed(config: pytest.Config, state: RunState) -> None:
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
    hosts: dict[str, int] = {}
    for spec in map(execnet.XSpec, parse_tx_spec_config(config)):
        host = spec.ssh or spec.socket or "this machine"
        hosts[host] = hosts.get(host, 0) + 1
    return next((f"{count} workers on {host}" for host, count in hosts.items() if count > 1), None)


def hand_over_part(config: pytest.Config, state: RunState, exitstatus: int) -> None:
    """A worker's end: its part of the report (the models it ran) is saved and sent to the controller,
    with every model the session selected (those no worker ran stay in the report, not run)."""
    if state.input_error is not None:
        return
    report = state.report.report
    selected = [record.model_dump(mode="json") for record in report.models]
    report.models = [record for record in report.models if record.key in state.runs]
    state.finish_report(exitstatus)
    part = {"report": report.to_data(), "selected": selected}
    config.workeroutput["bakeoff"] = part  # type: ignore[attr-defined]  # xdist sets it on a worker's config


class Distributed:
    """The xdist side of a session: the model scheduler and the merge on the controller, the hand-over on a worker."""

    def __init__(self, state: RunState):
        self.state = state
        self.workers: list[str] = []
        self.scheduler: ModelScheduling | None = None
        self.outputs: dict[str, dict | None] = {}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log) -> ModelScheduling:
        self.scheduler = ModelScheduling(config, log, (entry.label for entry in self.state.inputs("entries")))
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
        state = self.state
        parts: list[Part] = []
        selected: dict[tuple[str, str], ModelRecord] = {}
        for worker in self.workers:
            output = self.outputs.get(worker) or self._left_on_disk(worker)
            if output is None:
                continue
            for record in map(ModelRecord.model_validate, output["selected"]):
                selected.setdefault(record.key, record)
            parts.append(
                Part(parse_report(output["report"], where=f"worker {worker}"), f"worker {worker}", worker=worker)
            )
        if not parts:
            return
        merged = merge(parts, run_id=state.report.run_id)
        by_key = {m.key: m for m in merged.models}
        merged.models = [by_key.get(key, record) for key, record in selected.items()]
        merged.started_at = state.report.report.started_at
        died = []
        crashed = self.scheduler.crashed if self.scheduler is not None else {}
        for label, (worker, test) in crashed.items():
            died.append(f"worker {worker} died during {test}")
            for entry in state.inputs("entries"):
                if label == entry.label and entry.key in by_key:
                    by_key[entry.key].update(
                        status="failed",
                        reason=f"its worker {worker} died during {test}; the prompts after it were not asked",
                    )
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
            terminalreporter.write_line(
                "timing gates do not judge this report's timings (its checks and memory they do)", yellow=True
            )

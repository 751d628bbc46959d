"""Scale-out: `pytest evals -n N` (pytest-xdist) and `bakeoff merge` against serial runs of the same
selection, on the real runtimes and models; and what a distributed run refuses before it starts."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from xdist.scheduler import LoadGroupScheduling, LoadScopeScheduling

from bakeoff import distributed
from bakeoff.distributed import ModelScheduling
from bakeoff.report.store import load_report

from .conftest import REPO
from .test_nightly_workflow import run_merge_job

# Two prompts a small model answers the same way every time (greedy decoding), asked twice each.
PROMPTS = """\
version: 1
defaults:
  repeats: 2
  max_tokens: 16
  temperature: 0
prompts:
  - id: arithmetic-7x6
    system: Answer with the number only.
    text: What is 7 times 6?
    max_tokens: 8
    checks:
      - equals: "42"
  - id: yes-or-no
    system: Start your answer with Yes or No.
    text: Is Python a programming language?
    checks:
      - starts_with: "Yes"
      - max_words: 40
"""
# The default model on Foundry Local and on llama.cpp: two model x runtime pairs, two servers.
BOTH = "qwen2_5_coder_0_5b"
RUN_TIMEOUT_S = 900


def pytest_evals(reports: Path, prompts: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "evals", "-p", "no:cacheprovider", "-rs", "--bakeoff-prompts", str(prompts),
         "--bakeoff-reports", str(reports), "--bakeoff-launches", "1", *args],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    return result, time.monotonic() - started


def outcome(report) -> dict:
    """What a run found, apart from how fast: per model x runtime, its status and starts, and per
    prompt its checks' outcomes and how many samples it took."""
    return {
        m.key: (m.status, m.starts, {p.id: ([(c.check, c.passed) for c in p.checks], len(p.samples)) for p in m.prompts})
        for m in report.models
    }


@pytest.fixture(scope="module")
def runs(default_model_pulled, llama_server_ready, tmp_path_factory) -> dict:
    """The same selection run serially, on two local workers, and as two separate one-model runs."""
    root = tmp_path_factory.mktemp("scale")
    prompts = root / "prompts.yaml"
    prompts.write_text(PROMPTS)
    done = {}
    for name, args in (
        ("serial", ["-m", BOTH]),
        ("workers", ["-m", BOTH, "-n", "2", "--bakeoff-share-host"]),
        ("foundry", ["-m", f"{BOTH} and foundry"]),
        ("llamacpp", ["-m", f"{BOTH} and llamacpp"]),
    ):
        result, seconds = pytest_evals(root / name, prompts, *args)
        # 1 would be a failed check: the outcomes are what the tests compare; 2 and above are errors.
        assert result.returncode in (0, 1), f"{name}: " + result.stdout[-4000:] + result.stderr[-2000:]
        print(f"bakeoff scale-out: {name} run took {seconds:.1f} s")
        done[name] = (load_report(root / name / "latest.json"), result.stdout, root / name)
    done["root"] = root
    return done


@pytest.mark.integration
def test_two_local_workers_make_the_report_of_the_serial_run(runs):
    serial, _, _ = runs["serial"]
    workers, stdout, reports = runs["workers"]

    assert outcome(workers) == outcome(serial)
    assert [m.key for m in workers.models] == [m.key for m in serial.models]
    assert len(workers.models) == 2 and all(m.status == "ran" and m.starts == 1 for m in workers.models)
    # One worker per model x runtime, both on this machine at once: the report and the terminal say so.
    distribution = workers.distribution
    assert sorted(len(w.models) for w in distribution.workers) == [1, 1]
    assert distribution.shared_host and {w.host for w in distribution.workers} == {workers.environment.host}
    assert "measured at the same time on host" in stdout and "timing gates do not judge" in stdout
    assert all(m.environment is not None and m.environment.host == workers.environment.host for m in workers.models)
    # Our own figures are there although pytest-benchmark turned itself off under xdist.
    assert all(s.ttft_s > 0 and s.decode_tokens_per_s for m in workers.models for p in m.prompts for s in p.samples)
    # The terminal table, the HTML page and latest.json are the merged run's, as after a serial run.
    assert f"report: {reports / (workers.run_id + '.json')}" in stdout
    assert (reports / f"{workers.run_id}.html").exists() and load_report(reports / "latest.json").run_id == workers.run_id
    assert sorted(p.name for p in (reports / "parts").iterdir()) == sorted(f"{workers.run_id}.{w.id}.json" for w in distribution.workers)
    assert serial.distribution is None


@pytest.mark.integration
def test_bakeoff_merge_of_two_separate_runs_equals_the_serial_run(runs, tmp_path):
    serial, _, _ = runs["serial"]
    out = tmp_path / "merged.json"

    result = subprocess.run(
        [sys.executable, "-m", "bakeoff", "merge", str(runs["foundry"][2] / "latest.json"), str(runs["llamacpp"][2] / "latest.json"), "-o", str(out)],
        capture_output=True, text=True,
    )

    assert result.returncode == 0, result.stderr
    merged = load_report(out)
    assert outcome(merged) == outcome(serial)
    assert merged.status == "complete" and serial.prompt_source.sha256 and merged.prompt_source.sha256 == serial.prompt_source.sha256
    # Run one after the other on this machine: not shared.
    assert not merged.distribution.shared_host
    # Merging a report with itself holds a model twice: refused with one line.
    again = subprocess.run(
        [sys.executable, "-m", "bakeoff", "merge", str(out), str(runs["foundry"][2] / "latest.json"), "-o", str(tmp_path / "x.json")],
        capture_output=True, text=True,
    )
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1 and "is also in" in again.stderr


@pytest.mark.integration
def test_the_nightly_merge_job_merges_compares_and_gates_real_runs(runs, tmp_path):
    """The workflow's merge job, its commands run as they are, on the two one-model runs as the matrix
    jobs upload them, with the serial run as the committed baseline."""
    for group in ("foundry", "llamacpp"):
        part = tmp_path / "parts" / f"bakeoff-part-{group}"
        part.mkdir(parents=True)
        shutil.copy(runs[group][2] / "latest.json", part / "latest.json")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "reports").mkdir()
    shutil.copy(runs["serial"][2] / "latest.json", tmp_path / "reports" / "baseline.json")

    results = run_merge_job(tmp_path, Path(sys.executable).parent)

    merge, gate = results
    assert merge.returncode == 0, merge.stderr
    assert gate.returncode in (0, 1), gate.stderr  # 1: a gate failed, which timings may do run to run; never bad input
    merged = load_report(tmp_path / "reports" / "merged.json")
    assert outcome(merged) == outcome(runs["serial"][0])
    comparison = __import__("json").loads((tmp_path / "reports" / "comparison.json").read_text())
    assert {(r["model"], r["runtime"]) for r in comparison["rows"]} == {m.key for m in merged.models}
    # Same answers as the baseline: the quality gate holds for both models.
    quality = [r for r in comparison["rows"] if r["metric"] == "check_pass_rate" and r["gate"]]
    assert quality and all(r["gate"]["passed"] for r in quality)
    assert (tmp_path / "reports" / "merged.html").exists()
    assert gate.returncode == (1 if comparison["failed"] else 0)


def test_workers_sharing_this_machine_are_refused_unless_allowed(eval_project):
    pytester = eval_project()

    result = pytester.runpytest_subprocess("-n", "2")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and "2 workers on this machine would measure models at the same time" in errors[0]
    assert "--bakeoff-share-host" in errors[0]


def test_a_dist_mode_that_splits_models_is_refused(eval_project):
    pytester = eval_project()

    result = pytester.runpytest_subprocess("-n", "2", "--dist", "load", "--bakeoff-share-host")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--dist load would split a model's prompts across workers" in result.stderr.str()


class FakeWorker:
    """A worker as xdist's scheduler sees it: the test indexes it was sent, and whether it was shut down."""

    def __init__(self, name: str):
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent += indexes

    def shutdown(self) -> None:
        self.shutting_down = True


def model_scheduling(labels=("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b@llamacpp", "phi")) -> ModelScheduling:
    config = SimpleNamespace(getvalue=lambda name: ["popen", "popen"] if name == "tx" else None, option=SimpleNamespace(loadscopereorder=False))
    return ModelScheduling(config, None, labels)


def prompt_test_id(params: str) -> str:
    return f"evals/test_prompts.py::test_prompt[{params}]"


def test_the_scheduler_keeps_each_model_x_runtime_whole():
    scheduler = model_scheduling()
    assert scheduler.model_of(prompt_test_id("qwen2.5-coder-0.5b-arithmetic-7x6")) == scheduler.model_of(prompt_test_id("qwen2.5-coder-0.5b-yes-or-no")) == "qwen2.5-coder-0.5b"
    assert scheduler.model_of(prompt_test_id("qwen2.5-coder-0.5b@llamacpp-yes-or-no")) == "qwen2.5-coder-0.5b@llamacpp"
    assert scheduler.model_of(prompt_test_id("other-model-x")) is None  # not ours: a group of its own

    tests = [prompt_test_id(f"{label}-{prompt}-launch{k}") for k in (1, 2) for label in ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b@llamacpp") for prompt in "ab"]
    a, b = FakeWorker("gw0"), FakeWorker("gw1")
    for worker in (a, b):
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, tests)
    scheduler.schedule()
    by_worker = [{scheduler.model_of(tests[index]) for index in worker.sent} for worker in (a, b)]
    assert sorted(map(sorted, by_worker)) == [["qwen2.5-coder-0.5b"], ["qwen2.5-coder-0.5b@llamacpp"]]  # one model per worker, whole
    assert sorted(a.sent + b.sent) == list(range(len(tests)))


def test_the_scheduler_uses_only_xdists_public_scheduling_interface():
    # No private method of xdist's scheduler is called, overridden or copied (they change between releases).
    private = {name for name in vars(LoadScopeScheduling) | vars(LoadGroupScheduling) if re.match(r"_[a-z]", name)}
    tree = ast.parse(Path(distributed.__file__).read_text())
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert "_reschedule" in private and names & private == set()


def test_a_model_whose_worker_died_is_not_started_again_and_the_rest_of_its_queue_moves():
    scheduler = model_scheduling()
    tests = [prompt_test_id(f"{label}-{prompt}") for label in ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b@llamacpp", "phi") for prompt in "ab"]
    a, b = FakeWorker("gw0"), FakeWorker("gw1")
    for worker in (a, b):
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, tests)
    scheduler.schedule()  # gw0: 0.5b, then phi (its two tests left room for a second unit); gw1: 0.5b@llamacpp
    assert (a.sent, b.sent) == ([0, 1, 4, 5], [2, 3])
    scheduler.mark_test_complete(a, 0)

    crashed = scheduler.remove_node(a)  # gw0 dies in its model's second test

    assert crashed == tests[1]  # its own id, as xdist reports the crash
    assert scheduler.crashed == {"qwen2.5-coder-0.5b": ("gw0", tests[1])}
    queued = [scheduler.tagged[test] for unit in scheduler.workqueue.values() for test in unit]
    assert queued == tests[4:6]  # phi, not begun, is queued again; 0.5b, whose server it started, is not


def test_a_worker_that_dies_leaves_its_finished_prompts_and_an_incomplete_report(eval_project):
    """A worker killed mid-model (os._exit in the user's test, after the model's second prompt): the
    controller takes what the worker saved of its part from disk, does not start that model again on
    another worker, and the report keeps both models' finished prompts and says it is incomplete."""
    from .fault_server import PROMPTS, FaultServer
    from .test_faults import endpoint_model

    dying_test = (
        "import os\n"
        "def test_prompt(model, prompt, evaluate):\n"
        "    assert evaluate(model, prompt).passed\n"
        "    if model.entry.name == 'dies' and prompt.id == 'second':\n"
        "        os._exit(3)\n"
    )
    with FaultServer(["ok"]) as dying, FaultServer(["ok"]) as living:
        project = eval_project(models=[endpoint_model("dies", dying.url), endpoint_model("lives", living.url)], prompts=PROMPTS, test=dying_test)
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--bakeoff-share-host", "--bakeoff-launches", "1")
        assert len(dying.requests) == 2 and len(living.requests) == 3  # the dead worker's model was not asked again

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = load_report(project.path / "reports" / "latest.json")
    dies, lives = report.models
    assert report.status == "incomplete" and report.incomplete_reason.startswith("worker gw") and "died during" in report.incomplete_reason
    assert dies.status == "failed" and "died during test_evals.py::test_prompt[dies-second]" in dies.reason
    assert [p.id for p in dies.prompts] == ["first", "second"] and all(p.passed for p in dies.prompts)
    assert lives.status == "ran" and [p.id for p in lives.prompts] == ["first", "second", "third"]
    assert "INCOMPLETE: worker gw" in result.stdout.str()

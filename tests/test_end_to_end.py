"""The main job for real: `pytest evals` on the real default model, served by Foundry Local.

These run pytest in a subprocess, exactly as a user does, against this repository's evals/,
models.json and prompts.yaml, with the reports written to a temporary directory.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from bakeoff.report.store import load_report
from bakeoff.runtimes.process import ServerProcess, serve_argv
from bakeoff.weights import cache

from .conftest import REGISTRY, REPO

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 900


def pytest_evals(reports: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "evals", "-p", "no:cacheprovider", "--bakeoff-reports", str(reports), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def descendants_named(parent: psutil.Process, needle: str) -> list[psutil.Process]:
    found = []
    for child in parent.children(recursive=True):
        try:
            if needle in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def unwrapped(text: str) -> str:
    return " ".join(text.split())


def wait_for(condition, timeout_s: float, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    return condition()


def test_default_evals_compare_models_on_both_runtimes(default_model_pulled, llama_server_ready, tmp_path):
    manifest = cache.model_dir(default_model_pulled) / cache.MANIFEST
    pulled_at = manifest.stat().st_mtime_ns

    result = pytest_evals(tmp_path, "-rsx")  # what the README's first command runs

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # Already pulled: nothing is downloaded or compiled again.
    assert manifest.stat().st_mtime_ns == pulled_at
    report = load_report(tmp_path / "latest.json")
    assert report.status == "complete"
    env = report.environment
    assert env.ram_gb > 0 and env.cpu and env.python and env.runtimes["foundry"] and env.runtimes["llamacpp"]
    by_key = {m.key: m for m in report.models}
    ran = [m for m in report.models if m.status == "ran"]
    # A bake-off: at least four model x runtime pairs, two families, both runtimes.
    assert len(ran) >= 4 and len({m.family for m in ran}) >= 2 and {m.runtime for m in ran} >= {"foundry", "llamacpp"}

    default = by_key[default_model_pulled.key]
    assert default.starts == len(default.launches) == 3 and default.weights_sha256 == default_model_pulled.source.sha256
    assert all(record.passed for record in default.prompts), default.failed_prompts
    for model in ran:
        assert model.ready_seconds > 0 and model.rss_after_load_bytes > 0 and model.cpu_seconds > 0
        assert model.peak_rss_bytes >= model.rss_after_load_bytes
        assert len({p.id for p in model.prompts}) == len(model.prompts) >= 8
        for record in model.prompts:
            assert len(record.samples) == record.repeats and record.error is None, (model.key, record.id)
            for sample in record.samples:
                assert sample.ttft_s > 0 and sample.output_tokens > 0
    # A model on trial that fails checks is shown as failing (xfail, the table), never hidden.
    on_trial_failures = sum(len(m.failed_prompts) for m in ran if m.name == "smollm2-135m")
    if on_trial_failures:
        # One test per prompt per launch: a failed prompt xfails in each launch whose attempts failed.
        xfailed = int(re.search(r"(\d+) xfailed", result.stdout.splitlines()[-1]).group(1))
        assert on_trial_failures <= xfailed <= on_trial_failures * len(default.launches)
    # The recommendation names the pick and the runners-up.
    assert "Ship " in unwrapped(result.stdout) or "No model passed every check" in unwrapped(result.stdout)
    assert sum(label in unwrapped(result.stdout) for label in ("qwen2.5-coder-0.5b", "smollm2-135m")) == 2

    # Every other model is accounted for: skipped with its reason, never silently dropped.
    for record in report.models:
        if record.status != "ran":
            assert record.status == "skipped" and record.reason, record
            assert unwrapped(record.reason) in unwrapped(result.stdout)  # the table wraps long reasons
    assert "bakeoff: model comparison" in result.stdout


def test_selecting_phi_skips_every_phi_model_with_its_reason(tmp_path):
    result = pytest_evals(tmp_path, "-m", "phi", "-rs")

    assert result.returncode == 0, result.stdout[-4000:]
    report = load_report(tmp_path / "latest.json")
    phi_models = [m for m in report.models if m.family == "phi"]
    assert {m.name for m in phi_models} == {"phi-4-mini", "phi-4"}
    for record in phi_models:
        assert record.status == "skipped" and record.reason
        assert record.reason in result.stdout  # in pytest's skip summary and in the table's "not run"
    assert all(m.family == "phi" for m in report.models)


def ctrl_c_as_on_a_terminal() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and Python then
    # never turns it into KeyboardInterrupt; pytest on a terminal has it at its default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_mid_run_keeps_an_incomplete_report_and_leaves_no_server(default_model_pulled, tmp_path):
    runner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "evals", "-m", "qwen", "-p", "no:cacheprovider", "--bakeoff-reports", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ctrl_c_as_on_a_terminal,
    )
    try:
        parent = psutil.Process(runner.pid)
        servers = wait_for(lambda: descendants_named(parent, "bakeoff serve"), timeout_s=120)
        assert servers, "no server started"
        server_tree = servers + [c for s in servers for c in s.children(recursive=True)]
        time.sleep(8)  # into the prompts
        runner.send_signal(signal.SIGINT)
        output, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()

    assert runner.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    gone, alive = psutil.wait_procs(server_tree, timeout=10)
    assert not alive, f"orphan server processes: {alive}"
    report = load_report(tmp_path / "latest.json")
    assert report.status == "incomplete" and report.incomplete_reason == "interrupted"
    assert "INCOMPLETE" in output


def test_a_killed_run_leaves_no_server_behind(default_model_pulled, tmp_path):
    """SIGKILL gives pytest no chance to clean up: the server notices its parent is gone and exits."""
    runner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "evals", "-m", "qwen", "-p", "no:cacheprovider", "--bakeoff-reports", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        servers = wait_for(lambda: descendants_named(psutil.Process(runner.pid), "bakeoff serve"), timeout_s=120)
        assert servers, "no server started"
        server_tree = servers + [c for s in servers for c in s.children(recursive=True)]
    finally:
        runner.kill()
        runner.wait()
    gone, alive = psutil.wait_procs(server_tree, timeout=30)
    assert not alive, f"orphan server processes: {alive}"


def test_bakeoff_serve_answers_a_plain_openai_request_on_loopback(served_default_model):
    ready = served_default_model
    assert ready.url.startswith("http://127.0.0.1:")
    listening = [
        c for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == httpx.URL(ready.url).port
    ]
    assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)

    listed = httpx.get(f"{ready.url}/v1/models", timeout=30).json()
    assert ready.model_id in [m["id"] for m in listed["data"]]
    response = httpx.post(
        f"{ready.url}/v1/chat/completions",
        json={"model": ready.model_id, "messages": [{"role": "user", "content": "What is 2 + 3? Answer with the number only."}], "max_tokens": 8},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert "5" in response.json()["choices"][0]["message"]["content"]


def test_bakeoff_serve_stops_cleanly_on_sigterm(default_model_pulled, tmp_path):
    server = ServerProcess(serve_argv(default_model_pulled.name, REGISTRY), tmp_path / "serve.log")
    ready = server.start()
    tree = [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children(recursive=True)]
    server.proc.send_signal(signal.SIGTERM)  # the serve process alone, as `kill PID` would
    assert server.proc.wait(timeout=30) == 0, server.log_tail()
    gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{ready.url}/v1/models", timeout=5)

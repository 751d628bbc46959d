"""A model's run without pytest: every way it can end is recorded with its status and reason.

The model is an `endpoint` entry served by a scripted stand-in (tests/fake_openai.py); the faults
are injected into the runtime and the memory sampler, which is what these tests are about.
"""

from __future__ import annotations

import dataclasses

import pytest

from bakeoff import runtimes
from bakeoff.inputs.model_sources import OpenAIEndpoint
from bakeoff.inputs.registry import ModelEntry
from bakeoff.model_run import ModelFailed, ModelRun, ModelSkipped
from bakeoff.report.store import RunReport

from .fake_openai import serve_stream
from .fault_server import chunk

STREAM = [(0.0, chunk(content="Paris")), (0.0, chunk(finish="stop")), (0.0, "data: [DONE]")]


def endpoint_entry(url: str, min_ram_gb: float = 0) -> ModelEntry:
    source = OpenAIEndpoint(base_url=f"{url}/v1", model="served-model")
    return ModelEntry("remote", "chat", min_ram_gb, "", "remote", "endpoint", source)


def model_run(tmp_path, entry: ModelEntry) -> ModelRun:
    report = RunReport(tmp_path / "models.json")
    return ModelRun(report, entry, registry_path=tmp_path / "models.json", reports_dir=tmp_path / "reports", progress=print)


def test_a_served_model_is_recorded_as_ran_with_its_figures(tmp_path):
    with serve_stream(STREAM, models=("served-model",)) as (url, _):
        run = model_run(tmp_path, endpoint_entry(url))
        with run.serving() as running:
            assert running.client.chat([{"role": "user", "content": "Capital of France?"}]).response == "Paris"
    assert run.record.status == "ran" and run.record.reason is None and run.record.starts == 1
    assert run.record.peak_rss_bytes is None and "not measured" in run.record.memory_note  # no pid: not 0


def test_too_little_ram_is_a_skip_with_the_reason(tmp_path):
    run = model_run(tmp_path, endpoint_entry("http://127.0.0.1:9", min_ram_gb=100000))
    with pytest.raises(ModelSkipped), run.serving():
        pass
    assert run.record.status == "skipped" and "needs 100000 GB" in run.record.reason


def test_a_crash_inside_server_start_up_is_failed_with_its_reason_never_skipped(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("the runtime fell over")

    monkeypatch.setattr(type(runtimes.get("endpoint")), "server_for", crash)
    run = model_run(tmp_path, endpoint_entry("http://127.0.0.1:9"))
    with pytest.raises(ModelFailed), run.serving():
        pass
    assert run.record.status == "failed"
    assert run.record.reason == "remote: crashed while starting: RuntimeError: the runtime fell over"
    assert (tmp_path / "reports" / "latest.json").exists()  # saved as it ended


def test_a_crash_in_the_memory_sampler_is_failed_and_the_server_stopped(tmp_path, monkeypatch):
    class BrokenSampler:
        def __init__(self, pid):
            raise OSError("no /proc here")

    monkeypatch.setattr("bakeoff.model_run.MemorySampler", BrokenSampler)
    stopped = []
    with serve_stream(STREAM, models=("served-model",)) as (url, _):
        # a process to watch, so the sampler is started
        entry = endpoint_entry(url)
        entry = dataclasses.replace(entry, source=dataclasses.replace(entry.source, pid=1))
        run = model_run(tmp_path, entry)
        real_server_for = runtimes.get("endpoint").server_for

        def server_for(*args):
            server = real_server_for(*args)
            original_stop = server.stop
            server.stop = lambda: stopped.append(True) or original_stop()
            return server

        monkeypatch.setattr(runtimes.get("endpoint"), "server_for", server_for)
        with pytest.raises(ModelFailed), run.serving():
            pass
    assert run.record.status == "failed" and "crashed while measuring: OSError: no /proc here" in run.record.reason
    assert stopped == [True]

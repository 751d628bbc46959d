"""Telemetry per launch through a model's run: the server's GPU memory (after load, peak), power and
energy per output token from NVML answers recorded on an H200 (replayed through a fake pynvml); RAPL
on the CPU from a stand-in powercap tree; "not measured" where there is no sensor (this machine)."""

from __future__ import annotations

import dataclasses
import os
import sys

import pytest

from bakeoff.measure import telemetry as telemetry_module
from bakeoff.measure.energy import RaplMeter
from bakeoff.measure.telemetry import NO_SENSOR
from tests.fake_openai import serve_stream
from tests.fault_server import chunk
from tests.measure.fake_nvml import FakeNvml, NoDriver, recording
from tests.measure.test_accelerator import results, server_memory
from tests.test_model_run import endpoint_entry, model_run

STREAM = [(0.0, chunk(content="Paris is the capital")), (0.0, chunk(finish="stop")), (0.0, "data: [DONE]")]


def run_once(tmp_path):
    """One launch of an endpoint model whose 'server process' is this test's own, two requests."""
    with serve_stream(STREAM, models=("served-model",)) as (url, _):
        entry = endpoint_entry(url)
        entry = dataclasses.replace(entry, source=dataclasses.replace(entry.source, pid=os.getpid()))
        run = model_run(tmp_path, entry)
        with run.serving() as running:
            for _ in range(2):
                sample = running.client.chat([{"role": "user", "content": "Capital of France?"}])
                sample.launch = 0
                run.samples_of(type("P", (), {"id": "p"})()).append(sample)
    return run.record, sample.output_tokens


def test_gpu_memory_and_energy_per_token_from_the_recorded_gpu(tmp_path, monkeypatch):
    rec = recording()
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(rec, server_pid=os.getpid()))
    record, tokens = run_once(tmp_path)
    held = server_memory(rec)
    assert record.gpu_memory_after_load_bytes == held[0] == record.launches[0].gpu_memory_after_load_bytes
    assert held[0] <= record.peak_gpu_memory_bytes <= max(held)
    assert record.energy_source == "NVML energy counter" and record.energy_note is None
    counters = results(rec, "nvmlDeviceGetTotalEnergyConsumption")
    assert 0 < record.energy_joules <= (counters[-1] - counters[0]) / 1000
    assert record.launches[0].output_tokens == 2 * tokens
    assert record.joules_per_token == pytest.approx(record.energy_joules / (2 * tokens))


def test_without_a_sensor_energy_is_not_measured_never_zero(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", NoDriver())
    monkeypatch.setattr(telemetry_module, "RaplMeter", lambda: RaplMeter(tmp_path / "no-powercap"))
    record, _ = run_once(tmp_path)
    assert record.energy_note == NO_SENSOR
    assert (record.energy_joules, record.joules_per_token, record.peak_gpu_memory_bytes, record.gpu_memory_after_load_bytes) == (None,) * 4
    assert record.peak_rss_bytes  # RSS is measured as before


def powercap(root, values: dict[str, tuple[int, int]]):
    for name, (energy, wrap) in values.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "energy_uj").write_text(f"{energy}\n")
        (root / name / "max_energy_range_uj").write_text(f"{wrap}\n")


def test_rapl_sums_the_packages_and_undoes_the_wrap_around(tmp_path):
    powercap(tmp_path, {"intel-rapl:0": (1_000_000, 10_000_000), "intel-rapl:1": (9_500_000, 10_000_000), "intel-rapl:0:0": (5, 10)})
    meter = RaplMeter(tmp_path).start()
    powercap(tmp_path, {"intel-rapl:0": (3_000_000, 10_000_000), "intel-rapl:1": (500_000, 10_000_000), "intel-rapl:0:0": (9, 10)})
    assert meter.stop() == pytest.approx(2.0 + 1.0)  # 2 J, and 1 J across the wrap; the sub-zone not counted twice


def test_rapl_on_the_cpu_gives_energy_per_token(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", NoDriver())
    root = tmp_path / "powercap"
    powercap(root, {"intel-rapl:0": (1_000_000, 10_000_000)})

    class Meter(RaplMeter):
        def stop(self):
            powercap(root, {"intel-rapl:0": (7_000_000, 10_000_000)})  # 6 J while the requests ran
            return super().stop()

    monkeypatch.setattr(telemetry_module, "RaplMeter", lambda: Meter(root))
    record, tokens = run_once(tmp_path)
    assert record.energy_joules == pytest.approx(6.0) and record.energy_source == RaplMeter.source
    assert record.joules_per_token == pytest.approx(6.0 / (2 * tokens))


def test_an_unreadable_rapl_counter_is_no_meter(tmp_path):
    (tmp_path / "intel-rapl:0").mkdir()  # the zone without a readable energy_uj (root only since 2020)
    assert RaplMeter(tmp_path).start() is None

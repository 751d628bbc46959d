"""GPU discovery and the GPU sampler, on NVML answers recorded from a real NVIDIA H200
(tests/data/nvml_h200.json), replayed through a fake pynvml; and the plain "no accelerator"
where there is no driver, as on this machine and CI."""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import asdict

import pytest

from bakeoff.measure import accelerator
from bakeoff.measure.accelerator import GpuSampler, discover, watch
from bakeoff.report import store
from tests.measure.fake_nvml import FakeNvml, NoDriver, recording

NEVER = 3600.0  # a sampling interval no test waits for: the tests take each sample themselves


def results(rec: dict, call: str) -> list:
    return [c["result"] for c in rec["calls"] if c["call"] == call and "result" in c]


def server_memory(rec: dict) -> list[int]:
    """The server's GPU memory in each recorded process list."""
    return [sum(p["usedGpuMemory"] for p in procs if p["pid"] == rec["server_pid"]) for procs in results(rec, "nvmlDeviceGetComputeRunningProcesses")]


@pytest.fixture
def recorded(monkeypatch):
    rec = recording()
    fake = FakeNvml(rec, server_pid=os.getpid())
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return rec


def test_no_driver_is_said_plainly_never_an_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", NoDriver())
    found = discover()
    assert found.accelerators == ()
    assert found.note.startswith("no accelerator")
    assert found.summary == found.note


def test_no_nvml_library_is_no_accelerator(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails as if nvidia-ml-py were missing
    assert discover().note.startswith("no accelerator")
    assert watch(os.getpid()) is None


def test_the_recorded_gpu_is_discovered(recorded):
    found = discover()
    (gpu,) = found.accelerators
    assert gpu.name == results(recorded, "nvmlDeviceGetName")[0]
    assert gpu.memory_bytes == results(recorded, "nvmlDeviceGetMemoryInfo")[0]["total"]
    assert gpu.driver == results(recorded, "nvmlSystemGetDriverVersion")[0]
    cuda = results(recorded, "nvmlSystemGetCudaDriverVersion")[0]
    assert gpu.cuda_version == f"{cuda // 1000}.{cuda % 1000 // 10}"
    assert gpu.compute_capability == "{}.{}".format(*results(recorded, "nvmlDeviceGetCudaComputeCapability")[0])
    assert gpu.name in found.summary and found.note is None


def test_the_report_environment_records_the_gpu(recorded):
    env = store.environment()
    assert [a.name for a in env.accelerators] == results(recorded, "nvmlDeviceGetName")[:1]
    assert env.accelerator_note is None


def test_the_report_environment_says_no_accelerator_without_a_driver(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", NoDriver())
    env = store.environment()
    assert env.accelerators == [] and env.accelerator_note.startswith("no accelerator")


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="this machine has an NVIDIA driver")
def test_this_machine_has_no_accelerator():
    assert store.environment().accelerator_note.startswith("no accelerator")


def _sampled(sampler: GpuSampler, rec: dict):
    """Every recorded process list taken once (start took the first), then stopped."""
    for _ in server_memory(rec)[1:-1]:
        sampler.sample()
    return sampler.stop()


def test_the_server_s_gpu_memory_peak_and_energy_from_the_recording(recorded):
    sampler = watch(os.getpid(), interval_s=NEVER)
    telemetry = _sampled(sampler, recorded)
    held = server_memory(recorded)
    assert telemetry.memory_after_load_bytes == held[0]
    assert telemetry.peak_memory_bytes == max(held)
    counters = results(recorded, "nvmlDeviceGetTotalEnergyConsumption")
    assert telemetry.energy_joules == pytest.approx((counters[-1] - counters[0]) / 1000)
    assert telemetry.energy_source == "NVML energy counter"
    utils = [u["gpu"] for u in results(recorded, "nvmlDeviceGetUtilizationRates")]
    assert min(utils) <= telemetry.utilization_percent <= max(utils)
    watts = [w / 1000 for w in results(recorded, "nvmlDeviceGetPowerUsage")]
    assert min(watts) <= telemetry.mean_power_watts <= max(watts)


def test_without_an_energy_counter_the_power_is_integrated(monkeypatch):
    rec = copy.deepcopy(recording())
    for call in rec["calls"]:
        if call["call"] == "nvmlDeviceGetTotalEnergyConsumption":
            call.pop("result", None)
            call.update(error="Not Supported", error_value=3)
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(rec, server_pid=os.getpid()))
    sampler = watch(os.getpid(), interval_s=NEVER)
    telemetry = _sampled(sampler, rec)
    assert telemetry.energy_source == "NVML power, integrated"
    assert telemetry.energy_joules is not None and telemetry.energy_joules >= 0


def test_a_server_on_the_cpu_has_nothing_on_the_gpu(monkeypatch):
    rec = recording()
    # The recorded GPU holds another process (the recorded server) but not the one watched here.
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(rec, server_pid=-1))
    telemetry = watch(os.getpid(), interval_s=NEVER).stop()
    assert telemetry == accelerator.GpuTelemetry()


def test_replaying_the_recording_gives_what_the_gpu_machine_measured(recorded):
    """Discovery, then the sampler, in the order the recorder ran them on the H200: every figure
    the sampler made there (memory, utilisation, power, energy) comes out the same here."""
    assert discover().accelerators
    telemetry = _sampled(watch(os.getpid(), interval_s=NEVER), recorded)
    assert asdict(telemetry) == pytest.approx(recorded["telemetry"])
    # And it is the figure nvidia-smi gave for the server at the same moment (MiB), within 5%.
    smi_mib = int(recorded["nvidia_smi_compute_apps_mib"].split(",")[1])
    assert abs(recorded["server_gpu_memory_bytes_at_smi"] / 2**20 / smi_mib - 1) < 0.05

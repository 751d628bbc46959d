"""NVIDIA GPUs through NVML: which there are (for the report's environment) and what a model's
server holds on them while it is measured (its memory, the device's memory and utilisation, power
and energy), sampled in a background thread like RSS (measure/memory.py).

No GPU, no driver or no NVML library is an answer, "no accelerator", never an error: a figure NVML
cannot give is simply not measured. pynvml (the `nvidia-ml-py` distribution) is looked up when
first asked for, so tests can put an NVML recorded on a real GPU in its place (tests/data).
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import statistics
import threading
import time
from dataclasses import dataclass
from types import ModuleType

import psutil

NO_ACCELERATOR = "no accelerator"


def nvml() -> ModuleType | None:
    """pynvml, initialised; None when it is not installed or finds no driver."""
    try:
        module = importlib.import_module("pynvml")
        module.nvmlInit()
    except Exception:  # noqa: BLE001 - ImportError, or any NVMLError: no driver, no library, no device
        return None
    return module


@dataclass(frozen=True)
class Accelerator:
    """One GPU as the report's environment records it."""

    index: int
    name: str
    memory_bytes: int
    driver: str
    cuda_version: str  # the newest CUDA the driver runs, "13.0"
    compute_capability: str | None = None  # "9.0": the architecture a CUDA build targets (sm_90)


@dataclass(frozen=True)
class Discovery:
    accelerators: tuple[Accelerator, ...] = ()
    note: str | None = None  # why there are none: "no accelerator (no NVIDIA driver found)"

    @property
    def summary(self) -> str:
        """One line: "1 x NVIDIA H200 (141 GB, driver 580.159.04, CUDA 13.0)" or the note."""
        if not self.accelerators:
            return self.note or NO_ACCELERATOR
        first = self.accelerators[0]
        return (
            f"{len(self.accelerators)} x {first.name} ({first.memory_bytes / 1e9:.0f} GB, "
            f"driver {first.driver}, CUDA {first.cuda_version})"
        )


def discover() -> Discovery:
    """The NVIDIA GPUs of this machine; none, with the reason, where there is no driver or no GPU."""
    lib = nvml()
    if lib is None:
        return Discovery(note=f"{NO_ACCELERATOR} (no NVIDIA driver or NVML library found)")
    try:
        count = lib.nvmlDeviceGetCount()
        if not count:
            return Discovery(note=f"{NO_ACCELERATOR} (the NVIDIA driver sees no GPU)")
        driver = _text(lib.nvmlSystemGetDriverVersion())
        cuda = lib.nvmlSystemGetCudaDriverVersion()
        found = []
        for index in range(count):
            handle = lib.nvmlDeviceGetHandleByIndex(index)
            memory = lib.nvmlDeviceGetMemoryInfo(handle)
            found.append(
                Accelerator(
                    index,
                    _text(lib.nvmlDeviceGetName(handle)),
                    int(memory.total),
                    driver,
                    f"{cuda // 1000}.{cuda % 1000 // 10}",
                    _capability(lib, handle),
                )
            )
        return Discovery(tuple(found))
    except lib.NVMLError as exc:
        return Discovery(note=f"{NO_ACCELERATOR} (NVML: {exc})")
    finally:
        _shutdown(lib)


def _capability(lib: ModuleType, handle: object) -> str | None:
    try:
        major, minor = lib.nvmlDeviceGetCudaComputeCapability(handle)
    except lib.NVMLError:
        return None
    return f"{major}.{minor}"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value  # older pynvml answers bytes


def _shutdown(lib: ModuleType) -> None:
    with contextlib.suppress(lib.NVMLError):
        lib.nvmlShutdown()


@dataclass
class GpuTelemetry:
    """What a server held and drew on the GPUs over one launch; None where NVML could not tell."""

    memory_after_load_bytes: int | None = None  # the server's processes, all GPUs
    peak_memory_bytes: int | None = None
    peak_device_memory_bytes: int | None = None  # everything on the GPUs it used, not only the server
    utilization_percent: float | None = None  # median over the samples, of the GPUs it used
    mean_power_watts: float | None = None
    energy_joules: float | None = None
    energy_source: str | None = None  # "NVML energy counter" or "NVML power, integrated"


@dataclass
class _Device:
    handle: object
    energy_start_mj: int | None = None
    used: bool = False  # the server held memory on it in some sample


def watch(pid: int, interval_s: float = 0.1) -> GpuSampler | None:
    """A GPU sampler started on `pid`, or None where there is no GPU to watch (then nothing on a
    GPU is measured)."""
    lib = nvml()
    if lib is None:
        return None
    try:
        handles = [lib.nvmlDeviceGetHandleByIndex(i) for i in range(lib.nvmlDeviceGetCount())]
    except lib.NVMLError:
        handles = []
    if not handles:
        _shutdown(lib)
        return None
    return GpuSampler(pid, lib, handles, interval_s).start()


class GpuSampler:
    """Samples the server's GPU memory (NVML's per-process figure, over its process tree), the
    device's memory, utilisation and power every `interval_s`; energy is the driver's counter
    between `start` and `stop` where the GPU has one, else the power samples integrated."""

    def __init__(self, pid: int, lib: ModuleType, handles: list[object], interval_s: float):
        self.pid = pid
        self.lib = lib
        self.devices = [_Device(handle) for handle in handles]
        self.interval_s = interval_s
        self.samples: list[
            tuple[float, int, int, float | None, float | None]
        ] = []  # time, server's, device's, util %, watts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"gpu-sampler-{pid}", daemon=True)

    def start(self) -> GpuSampler:
        for device in self.devices:
            device.energy_start_mj = self._energy_mj(device)
        self.sample()
        self._thread.start()
        return self

    def sample(self) -> int | None:
        """The server's GPU memory now (bytes); None when it holds none that NVML shows."""
        pids = _tree_pids(self.pid)
        held, device_used, utils, watts = 0, 0, [], []
        for device in self.devices:
            mine = self._process_memory(device, pids)
            if mine:
                device.used = True
            held += mine
            if device.used:
                device_used += self._call(lambda d=device: self.lib.nvmlDeviceGetMemoryInfo(d.handle).used, 0)
                utils.append(self._call(lambda d=device: self.lib.nvmlDeviceGetUtilizationRates(d.handle).gpu, None))
                watts.append(self._call(lambda d=device: self.lib.nvmlDeviceGetPowerUsage(d.handle) / 1000, None))
        self.samples.append((time.monotonic(), held, device_used, _sum(utils), _sum(watts)))
        return held or None

    def stop(self) -> GpuTelemetry:
        self._stop.set()
        self._thread.join()
        self.sample()
        telemetry = self._telemetry()
        _shutdown(self.lib)
        return telemetry

    def _telemetry(self) -> GpuTelemetry:
        if not any(device.used for device in self.devices):
            return GpuTelemetry()  # served on the CPU: nothing of it on a GPU
        held = [s[1] for s in self.samples]
        utils = [s[3] for s in self.samples if s[3] is not None]
        powered = [(s[0], s[4]) for s in self.samples if s[4] is not None]
        telemetry = GpuTelemetry(
            memory_after_load_bytes=held[0] or None,
            peak_memory_bytes=max(held) or None,
            peak_device_memory_bytes=max(s[2] for s in self.samples) or None,
            utilization_percent=statistics.median(utils) if utils else None,
            mean_power_watts=statistics.fmean(w for _, w in powered) if powered else None,
        )
        pairs = [(d.energy_start_mj, self._energy_mj(d)) for d in self.devices if d.used]
        counted = [(start, end) for start, end in pairs if start is not None and end is not None]
        if len(counted) == len(pairs):
            telemetry.energy_joules = sum(end - start for start, end in counted) / 1000
            telemetry.energy_source = "NVML energy counter"
        elif len(powered) >= 2:
            telemetry.energy_joules = sum(
                (t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in itertools.pairwise(powered)
            )
            telemetry.energy_source = "NVML power, integrated"
        return telemetry

    def _process_memory(self, device: _Device, pids: set[int]) -> int:
        processes = self._call(lambda: self.lib.nvmlDeviceGetComputeRunningProcesses(device.handle), [])
        # usedGpuMemory is None where the driver does not say (some virtualised GPUs).
        return sum(p.usedGpuMemory or 0 for p in processes if p.pid in pids)

    def _energy_mj(self, device: _Device) -> int | None:
        return self._call(lambda: self.lib.nvmlDeviceGetTotalEnergyConsumption(device.handle), None)  # Volta and later

    def _call(self, read, otherwise):
        """One NVML reading; `otherwise` when this GPU or driver does not support it."""
        try:
            return read()
        except self.lib.NVMLError:
            return otherwise

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


def _tree_pids(pid: int) -> set[int]:
    try:
        process = psutil.Process(pid)
        return {pid, *(child.pid for child in process.children(recursive=True))}
    except psutil.NoSuchProcess:
        return {pid}


def _sum(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None

"""One launch's figures beyond RSS: what the server holds on the GPU (measure/accelerator.py) and
the energy its requests took, per output token, from whichever power sensor there is: NVML where
the model ran on a GPU, else RAPL on the CPU (measure/energy.py); "not measured" where neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from bakeoff.measure.accelerator import GpuTelemetry, watch
from bakeoff.measure.energy import RAPL_SOURCE, RaplMeter

NO_SENSOR = "not measured: no power sensor readable (NVML on an NVIDIA GPU, RAPL powercap on the CPU)"


@dataclass
class Telemetry(GpuTelemetry):
    output_tokens: int = 0  # the launch's answers' tokens, over which the energy is spread
    joules_per_token: float | None = None
    energy_note: str | None = None  # why there is no energy figure


class LaunchTelemetry:
    """Started once the server is ready, stopped after the launch's last request."""

    def __init__(self, pid: int):
        self.gpu = watch(pid)
        self.cpu = RaplMeter().start()

    def gpu_memory_now(self) -> int | None:
        """The server's GPU memory now; None where it holds none (or there is no GPU)."""
        return self.gpu.sample() if self.gpu else None

    def stop(self, output_tokens: int) -> Telemetry:
        gpu = self.gpu.stop() if self.gpu else GpuTelemetry()
        telemetry = Telemetry(**vars(gpu), output_tokens=output_tokens)
        cpu_joules = self.cpu.stop() if self.cpu else None
        if telemetry.energy_joules is None and cpu_joules is not None:  # served on the CPU
            telemetry.energy_joules, telemetry.energy_source = cpu_joules, RAPL_SOURCE
        if telemetry.energy_joules is None:
            telemetry.energy_note = NO_SENSOR
        elif output_tokens:
            telemetry.joules_per_token = telemetry.energy_joules / output_tokens
        return telemetry

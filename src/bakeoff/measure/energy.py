"""The CPU's energy from Linux's RAPL powercap interface (/sys/class/powercap/intel-rapl:N/energy_uj,
one counter per processor package), where the kernel has it and lets us read it (often root only).

It counts the whole package, every process on it, so a figure per model is fair only on an
otherwise quiet machine; the report says where an energy figure came from.
"""

from __future__ import annotations

from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
RAPL_SOURCE = "RAPL powercap (CPU packages)"


def _packages(root: Path) -> list[Path]:
    # intel-rapl:0, intel-rapl:1: the packages; intel-rapl:0:0 and the like are parts of them.
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)


def _read(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


class RaplMeter:
    """Energy between `start` and `stop`, summed over the packages, the counters' wrap-around undone."""

    source = RAPL_SOURCE

    def __init__(self, root: Path = POWERCAP):
        self.packages = _packages(root)
        self.started: list[int | None] = []

    def start(self) -> RaplMeter | None:
        """Started, or None where no package counter is readable."""
        self.started = [_read(p / "energy_uj") for p in self.packages]
        if not self.started or None in self.started:
            return None
        return self

    def stop(self) -> float | None:
        """Joules since `start`; None if a counter could not be read again."""
        total = 0
        for package, start in zip(self.packages, self.started, strict=True):
            now, wrap = _read(package / "energy_uj"), _read(package / "max_energy_range_uj")
            if now is None or start is None:
                return None
            total += now - start if now >= start else now + (wrap or 0) - start
        return total / 1e6

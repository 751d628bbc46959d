"""A pynvml stand-in that replays NVML answers recorded on a real GPU (benchmarks/gpu_nvml_record.py
wrote tests/data/nvml_h200.json on an NVIDIA H200 while llama-server served a model on it, with
what bakeoff's sampler made of them there and nvidia-smi's per-process figure at the same moment).

Each NVML function answers its recorded answers in the order they were recorded, the last one
again once they run out; a recorded error is raised as NVMLError with its code. The server's
recorded pid is replaced by the pid a test watches, so the sampler finds "its" process.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

RECORDING = Path(__file__).resolve().parents[1] / "data" / "nvml_h200.json"


class NVMLError(Exception):
    def __init__(self, value: int, text: str = ""):
        super().__init__(text or f"NVML error {value}")
        self.value = value


def _plain_to_object(value, server_pid: int, recorded_pid: int):
    if isinstance(value, list):
        return [_plain_to_object(v, server_pid, recorded_pid) for v in value]
    if isinstance(value, dict):
        fields = {k: _plain_to_object(v, server_pid, recorded_pid) for k, v in value.items()}
        if fields.get("pid") == recorded_pid:
            fields["pid"] = server_pid
        return SimpleNamespace(**fields)
    return value


class FakeNvml:
    NVMLError = NVMLError

    def __init__(self, recording: dict, server_pid: int):
        self.recording = recording
        self.answers: dict[str, list] = {}
        for call in recording["calls"]:
            self.answers.setdefault(call["call"], []).append(call)
        self.asked: dict[str, int] = {}
        self.server_pid = server_pid

    def __getattr__(self, name: str):
        if name not in self.answers:
            raise AttributeError(name)

        def answer(*args):
            count = self.asked.get(name, 0)
            self.asked[name] = count + 1
            recorded = self.answers[name][min(count, len(self.answers[name]) - 1)]
            if "error" in recorded:
                raise NVMLError(recorded["error_value"], recorded["error"])
            return _plain_to_object(recorded["result"], self.server_pid, self.recording["server_pid"])

        return answer


def recording() -> dict:
    return json.loads(RECORDING.read_text())


class NoDriver:
    """pynvml installed on a machine without the NVIDIA driver: nvmlInit fails (as on CI)."""

    NVMLError = NVMLError

    def nvmlInit(self):
        raise NVMLError(9, "Driver Not Loaded")

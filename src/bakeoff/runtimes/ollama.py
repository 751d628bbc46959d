"""Serving a model with Ollama: `ollama serve` on 127.0.0.1, `ollama pull`, its OpenAI-compatible /v1.

`ollama serve` is started as a child of `bakeoff serve` (in its process group) on a port of our
own, so a user's running Ollama is never touched; models are shared with it through Ollama's
usual model directory. `ollama pull` prints its download progress to the server log.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx

from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes import ModelUnavailable
from bakeoff.runtimes.llamacpp import free_port

RUNTIME = "ollama"
LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 60.0
PULL_TIMEOUT_S = 3600.0
POLL_S = 0.1
STOP_TIMEOUT_S = 10.0


def runtime_available() -> str | None:
    if shutil.which("ollama") is None:
        return "ollama not found on PATH (https://ollama.com)"
    return None


def serve(entry: ModelEntry, port: int = 0, *, ready: Callable[[dict], None], stop_event: threading.Event) -> None:
    binary = shutil.which("ollama")
    if binary is None:
        raise ModelUnavailable(f"{entry.label}: ollama not found on PATH")
    if entry.source.get("type") != "ollama":
        raise BakeoffError(f"{entry.label}: the ollama runtime needs a source of type 'ollama' with the model's name")
    model = entry.source["model"]
    host = f"{LOOPBACK}:{port or free_port()}"
    url = f"http://{host}"
    env = {**os.environ, "OLLAMA_HOST": host}
    if entry.ctx_size:
        env["OLLAMA_CONTEXT_LENGTH"] = str(entry.ctx_size)
    started = time.perf_counter()
    server = subprocess.Popen([binary, "serve"], env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr)
    try:
        version = _wait_ready(server, url, stop_event)
        if version is None:
            return
        _progress(f"ollama pull {model}")
        pulled = subprocess.run([binary, "pull", model], env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, timeout=PULL_TIMEOUT_S)
        if pulled.returncode != 0:
            raise BakeoffError(f"{entry.label}: `ollama pull {model}` failed (exit code {pulled.returncode})")
        # Loading happens on the first request; an empty generate loads the model now.
        httpx.post(f"{url}/api/generate", json={"model": model}, timeout=READY_TIMEOUT_S * 5).raise_for_status()
        ready(
            {
                "url": url,
                "pid": server.pid,  # its model runner is a child: the measured tree includes it
                "model_id": model,
                "runtime": RUNTIME,
                "runtime_version": version,
                "load_seconds": round(time.perf_counter() - started, 3),
            }
        )
        while not stop_event.wait(0.5):
            if server.poll() is not None:
                raise BakeoffError(f"ollama serve exited with code {server.returncode} while serving {entry.label}")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_ready(server: subprocess.Popen, url: str, stop_event: threading.Event) -> str | None:
    """Ollama's version once it answers; None when asked to stop first."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if stop_event.is_set():
            return None
        if server.poll() is not None:
            raise BakeoffError(f"ollama serve exited with code {server.returncode} before it was ready")
        try:
            response = httpx.get(f"{url}/api/version", timeout=2.0)
            if response.status_code == 200:
                return response.json().get("version", "unknown")
        except httpx.TransportError:
            pass
        time.sleep(POLL_S)
    raise BakeoffError(f"ollama serve at {url} not ready after {READY_TIMEOUT_S:.0f} s")


def _progress(line: str) -> None:
    print(f"bakeoff: {line}", file=sys.stderr, flush=True)

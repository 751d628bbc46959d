"""Serving a model with Ollama: `ollama serve` on 127.0.0.1, `ollama pull`, its OpenAI-compatible /v1.

`ollama serve` is started as a child of `bakeoff serve` (in its process group) on a port of our
own, so a user's running Ollama is never touched; models are shared with it through Ollama's
usual model directory. `ollama pull` prints its download progress to the server log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable

import httpx

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import OllamaModel
from bakeoff.inputs.registry import ModelEntry
from bakeoff.runtimes.base import ProgramRuntime, ReadyInfo, progress
from bakeoff.runtimes.spawn import LOOPBACK, ChildServer, free_port

READY_TIMEOUT_S = 60.0
PULL_TIMEOUT_S = 3600.0


class OllamaRuntime(ProgramRuntime):
    name = "ollama"
    display_name = "Ollama"
    reported_as = "ollama"
    source_types = ("ollama",)
    program = "ollama"
    missing = "ollama not found on PATH (https://ollama.com)"

    def serve(
        self, entry: ModelEntry, port: int, *, ready: Callable[[ReadyInfo], None], stop_event: threading.Event
    ) -> None:
        self.check_source(entry)
        binary = self.program_path()
        assert isinstance(entry.source, OllamaModel)  # check_source: the one type it serves
        model = entry.source.model
        host = f"{LOOPBACK}:{port or free_port()}"
        url = f"http://{host}"
        env = {**os.environ, "OLLAMA_HOST": host}
        if entry.ctx_size:
            env["OLLAMA_CONTEXT_LENGTH"] = str(entry.ctx_size)
        with ChildServer("ollama serve", [binary, "serve"], env=env) as server:
            answer = server.wait_healthy(f"{url}/api/version", stop_event, READY_TIMEOUT_S)
            if answer is None:
                return
            progress(f"ollama pull {model}")
            pulled = subprocess.run(
                [binary, "pull", model], env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, timeout=PULL_TIMEOUT_S
            )
            if pulled.returncode != 0:
                raise BakeoffError(f"{entry.label}: `ollama pull {model}` failed (exit code {pulled.returncode})")
            # Loading happens on the first request; an empty generate loads the model now.
            httpx.post(f"{url}/api/generate", json={"model": model}, timeout=READY_TIMEOUT_S * 5).raise_for_status()
            version = answer.json().get("version", "unknown")
            # Its model runner is a child of `ollama serve`: the measured tree includes it.
            ready(ReadyInfo(url, server.proc.pid, model, self.reported_as, version, load_seconds=server.seconds()))
            server.hold(stop_event, entry.label)

"""Runtimes that serve a model behind an OpenAI-compatible API, all behind one interface (`base.Runtime`).

This module is the registry of runtimes: their keys (the `runtime` values models.json accepts),
display names, and classes, loaded on first use by `get(name)`. A caller drives any of them the
same way:

    runtime = runtimes.get(entry.runtime)
    runtime.unavailable_reason()           # None, or why it cannot run here (checked once per process)
    runtime.model_unavailable_reason(entry)  # None, or why this model cannot (e.g. its catalog is unreachable)
    runtime.prepare(entry, progress)       # fetch/compile weights unless they are on disk already
    server = runtime.server_for(entry, registry_path, log_path)  # not started yet
    ready = server.start()                 # ReadyInfo; raises ModelUnavailable (skip) or BakeoffError
    server.alive(); server.log_tail(); server.stop()

(`bakeoff.serving.serve_model` is these steps, as candidates and judges take them.)

Runtimes that start a process serve inside `bakeoff serve NAME --runtime R` (`Runtime.serve`, which
prints one JSON line when ready) and are launched as a `process.ServerProcess`; the `endpoint`
runtime starts nothing and checks an existing server. Importing this package loads no runtime
module or SDK. Never imports deciding, storing or showing.
"""

from __future__ import annotations

import importlib
from functools import cache

from bakeoff.errors import BakeoffError
from bakeoff.runtimes.base import Runtime, Server
from bakeoff.runtimes.ready import ModelUnavailable, ReadyInfo

__all__ = ["DISPLAY_NAMES", "NAMES", "ModelUnavailable", "ReadyInfo", "Runtime", "Server", "display_name", "get"]

# key -> (module, class, display name). The models.json schema's runtime list must equal the keys.
_REGISTRY = {
    "foundry": ("foundry", "FoundryRuntime", "Foundry Local"),
    "llamacpp": ("llamacpp", "LlamaCppRuntime", "llama.cpp"),
    "foundry_cli": ("foundry_cli", "FoundryCliRuntime", "Foundry Local CLI"),
    "ollama": ("ollama", "OllamaRuntime", "Ollama"),
    "endpoint": ("endpoint", "EndpointRuntime", "OpenAI-compatible endpoint"),
}
NAMES = tuple(_REGISTRY)
DISPLAY_NAMES: dict[str, str] = {key: display for key, (_, _, display) in _REGISTRY.items()}


def display_name(key: str) -> str:
    """How people call a runtime ("llama.cpp" for llamacpp); an unknown key as it is."""
    return DISPLAY_NAMES.get(key, key)


@cache
def get(name: str) -> Runtime:
    """The runtime called `name`, one instance per process (so availability is checked once)."""
    try:
        module_name, class_name, _ = _REGISTRY[name]
    except KeyError:
        raise BakeoffError(f"unknown runtime {name!r}; known: {', '.join(NAMES)}") from None
    return getattr(importlib.import_module(f".{module_name}", __name__), class_name)()

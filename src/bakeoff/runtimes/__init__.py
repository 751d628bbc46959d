"""Runtimes that serve a model behind an OpenAI-compatible API, all behind one interface (`base.Runtime`).

Runtimes are plugins: bakeoff's own five and any other distribution's register under the
entry-point group `bakeoff.runtimes` (`bakeoff.entry_points`), and each class says its key (the
`runtime` models.json names), its display name, the source types it serves and those whose weights
bakeoff pulls for it. `names()` lists them without importing one; `get(name)` loads one on first use.
A caller drives any of them the same way:

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

from functools import cache

from bakeoff import entry_points
from bakeoff.runtimes.base import Runtime, Server
from bakeoff.runtimes.ready import ModelUnavailable, ReadyInfo

__all__ = ["ModelUnavailable", "ReadyInfo", "Runtime", "Server", "display_name", "get", "names"]


def names() -> tuple[str, ...]:
    """The installed runtimes' keys: the `runtime` values models.json accepts."""
    return entry_points.runtime_names()


def display_name(key: str) -> str:
    """How people call a runtime ("llama.cpp" for llamacpp); a key no installed runtime has (a report
    taken elsewhere) as it is."""
    return entry_points.runtime_class(key).display_name if key in names() else key


@cache
def get(name: str) -> Runtime:
    """The runtime called `name`, one instance per process (so availability is checked once)."""
    return entry_points.runtime_class(name)()

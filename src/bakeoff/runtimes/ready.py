"""What `bakeoff serve` announces on its stdout: a served model (`ReadyInfo`, the ready line) or
that the model cannot run here (`ModelUnavailable`, the unavailable line).

Both sides speak it: a runtime's `serve` in the child, `process.ServerProcess` in the parent. Its
own module, below both `base` (the interface) and `process` (the parent's side), so neither
imports the other to reach it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bakeoff.errors import BakeoffError


class ModelUnavailable(BakeoffError):
    """The model cannot run here (for example not cached and its catalog unreachable): skip, not fail."""


@dataclass
class ReadyInfo:
    """A model being served: announced by the child once it answers, completed by the parent."""

    url: str
    pid: int | None  # the process whose memory and CPU are measured; None when there is none to measure
    model_id: str
    runtime: str  # the runtime as reports name it, e.g. "foundry-local", "llama.cpp"
    runtime_version: str
    # From starting the runtime until it serves the model, as the runtime itself took it.
    load_seconds: float | None = None
    # From spawning `bakeoff serve` until its ready line, measured by the parent.
    ready_seconds: float | None = None
    # The environment variable holding the API key, never the key itself: it must not reach a report.
    api_key_env: str | None = None
    # The runtime's own endpoint when `url` is a relay in front of it (Foundry Local, so that the
    # registry name works): bakeoff measures here, so the relay's hop is never in a figure.
    measured_url: str | None = None
    # Where the model is served ("cpu", "gpu"; None: the runtime does not say) and, on a GPU, the
    # layers offloaded as the runtime logged them ("25/25").
    device: str | None = None
    gpu_layers: str | None = None

    def event(self) -> dict:
        """The ready line `bakeoff serve` prints."""
        fields = asdict(self)
        del fields["ready_seconds"]  # the parent measures it
        return {"event": "ready", **fields}

    @classmethod
    def from_event(cls, event: dict, ready_seconds: float) -> ReadyInfo:
        return cls(
            url=event["url"],
            pid=event.get("pid"),
            model_id=event["model_id"],
            runtime=event["runtime"],
            runtime_version=event["runtime_version"],
            load_seconds=event.get("load_seconds"),
            ready_seconds=ready_seconds,
            api_key_env=event.get("api_key_env"),
            measured_url=event.get("measured_url"),
            device=event.get("device"),
            gpu_layers=event.get("gpu_layers"),
        )

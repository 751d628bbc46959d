"""Runtimes that serve a model on 127.0.0.1 behind an OpenAI-compatible API.

Each runtime module offers `serve(entry, port, *, ready, stop_event)` and `runtime_available()`;
importing this package loads no runtime.
"""

from ..errors import BakeoffError


class ModelUnavailable(BakeoffError):
    """The model cannot run here (for example not cached and its catalog unreachable): skip, not fail."""

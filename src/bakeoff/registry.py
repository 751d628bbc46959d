"""The curated model registry, models.json: loading, validation, and what fits this machine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ._validation import validate
from .errors import BakeoffError

GIB = 1024**3


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    min_ram_gb: float
    notes: str
    family: str
    runtime: str
    source: dict = field(hash=False, compare=False)
    default: bool = False

    @property
    def markers(self) -> list[str]:
        """Markers that select this model with `-m`: family, task, runtime and the name itself."""
        return list(dict.fromkeys([self.family, self.task, self.runtime, marker_name(self.name)]))

    @property
    def needs_compile(self) -> bool:
        return self.source.get("type") == "pypi-gguf"


def marker_name(name: str) -> str:
    """A model name as a marker: `-m` expressions take identifiers, so dots and dashes become _."""
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def machine_ram_gb() -> float:
    return psutil.virtual_memory().total / GIB


def ram_shortfall(entry: ModelEntry) -> str | None:
    """The reason this machine is too small for the model, or None when it fits."""
    have = machine_ram_gb()
    if have < entry.min_ram_gb:
        return f"{entry.name} needs {entry.min_ram_gb:g} GB RAM; this machine has {have:.1f} GB"
    return None


def load_registry(path: Path) -> list[ModelEntry]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise BakeoffError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise BakeoffError(f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None

    def label(index):
        item = raw[index] if isinstance(index, int) and index < len(raw) else None
        name = item.get("name") if isinstance(item, dict) else None
        return f"entry {index}" + (f" ({name})" if isinstance(name, str) else "")

    def locate(bad_path):
        return (label(bad_path[0]), bad_path[1:]) if bad_path else ("top level", [])

    validate(raw, "models.schema.json", where=str(path), locate=locate)
    entries, seen = [], set()
    for index, item in enumerate(raw):
        if item["name"] in seen:
            raise BakeoffError(f"{path}: {label(index)}: field 'name': duplicate model name")
        seen.add(item["name"])
        entries.append(
            ModelEntry(
                name=item["name"],
                task=item["task"],
                min_ram_gb=item["min_ram_gb"],
                notes=item["notes"],
                family=item.get("family") or marker_name(item["name"].split("-")[0]),
                runtime=item.get("runtime", "foundry"),
                source=item.get("source") or {"type": "foundry-catalog", "alias": item["name"]},
                default=item.get("default", False),
            )
        )
    return entries


def find(entries: list[ModelEntry], name: str) -> ModelEntry:
    for entry in entries:
        if entry.name == name:
            return entry
    raise BakeoffError(f"no model named {name!r} in the registry; known: {', '.join(e.name for e in entries)}")


def default_model(entries: list[ModelEntry]) -> ModelEntry:
    for entry in entries:
        if entry.default:
            return entry
    raise BakeoffError("the registry marks no model as default")

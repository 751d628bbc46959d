"""The curated model registry, models.json: loading, validation, and what fits this machine.

The runtimes an entry may name, and the source types, are those of the installed runtimes
(`bakeoff.entry_points`), filled into models.schema.json when it is loaded (`models_schema`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import psutil

from bakeoff import entry_points
from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import SOURCE_CLASSES, FoundryCatalog, Source, parse_source
from bakeoff.inputs.validation import read_document, schema, validate

GIB = 1024**3

# Marks pytest itself acts on (skipping, xfail, parametrizing, fixtures, warnings, hook order): a
# model, family, task or runtime by one of these names must not become one, or `xfail` would turn
# a model's failures into passes. Such a selector gets MARKER_PREFIX (`-m model_xfail`).
PYTEST_MARKS = frozenset(
    {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings", "tryfirst", "trylast"}
)
MARKER_PREFIX = "model_"


# The runtime of an item that names none (models.json items from before there were several).
DEFAULT_RUNTIME = "foundry"
# What `bakeoff pull` compiles to unless an entry's "precision" says otherwise.
DEFAULT_PRECISION = "int4"
# Where a model is served unless its "device" says otherwise; "gpu" is llama.cpp's alone.
DEFAULT_DEVICE = "cpu"
GPU_RUNTIMES = ("llamacpp",)


@dataclass(frozen=True)
class ModelEntry:
    """One model on one runtime. A models.json item listing several runtimes gives one entry each."""

    name: str
    task: str
    min_ram_gb: float
    notes: str
    family: str
    runtime: str
    source: Source = field(hash=False, compare=False)
    default: bool = False
    # The first runtime an item lists is its own; the others show as `NAME@RUNTIME`.
    primary: bool = True
    ctx_size: int | None = None
    threads: int | None = None
    # The ONNX precision a compiled model is built in (int4, int8, fp32); part of what makes it pulled.
    precision: str = DEFAULT_PRECISION
    # False: a model under trial; its failed checks are recorded and shown, and its tests xfail
    # instead of failing the run (a bake-off that includes a weak model still exits 0).
    must_pass_checks: bool = True
    # False: left out of a plain `pytest evals`; `-m`/`-k` that pick it run it.
    selected_by_default: bool = True
    # "gpu": llama-server built with CUDA, `gpu_layers` layers offloaded (None: all of them).
    device: str = DEFAULT_DEVICE
    gpu_layers: int | None = None

    @property
    def label(self) -> str:
        """The test id and command-line name: NAME for the first runtime, NAME@RUNTIME for the others."""
        return self.name if self.primary else f"{self.name}@{self.runtime}"

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a model in a report: its name and its runtime."""
        return self.name, self.runtime

    @property
    def markers(self) -> list[str]:
        """Markers that select this model with `-m`: family, task, runtime and the name itself."""
        return self.selectors(PYTEST_MARKS)

    def selectors(self, taken: frozenset[str] | set[str]) -> list[str]:
        """The markers, each name in `taken` (marks that already mean something) prefixed."""
        names = [self.family, self.task, self.runtime, marker_name(self.name)]
        return list(dict.fromkeys(f"{MARKER_PREFIX}{name}" if name in taken else name for name in names))

    @classmethod
    def from_fields(cls, fields: dict) -> ModelEntry:
        """The entry a parent bakeoff wrote with `dataclasses.asdict` (runtimes.process.serve_argv)."""
        return cls(**{**fields, "source": parse_source(fields["source"])})


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


@cache
def models_schema() -> dict:
    """models.schema.json with the installed runtimes' keys and the source types they serve."""
    names = entry_points.runtime_names()
    served: dict[str, None] = {}
    for name in names:
        for source_type in entry_points.runtime_class(name).source_types:
            if source_type not in SOURCE_CLASSES:
                known = ", ".join(SOURCE_CLASSES)
                raise BakeoffError(f"runtime {name!r} serves source type {source_type!r}; the known ones: {known}")
            served[source_type] = None
    document = copy.deepcopy(schema("models.schema.json"))
    document["$defs"]["runtime"]["enum"] = list(names)
    document["$defs"]["source_type"]["enum"] = list(served)
    return document


def load_registry(path: Path) -> list[ModelEntry]:
    path = Path(path)
    raw = read_document(path, "JSON")

    def label(index):
        item = raw[index] if isinstance(index, int) and index < len(raw) else None
        name = item.get("name") if isinstance(item, dict) else None
        return f"entry {index}" + (f" ({name})" if isinstance(name, str) else "")

    def locate(bad_path):
        return (label(bad_path[0]), bad_path[1:]) if bad_path else ("top level", [])

    validate(raw, "models.schema.json", where=str(path), locate=locate, document=models_schema())
    entries, seen, default_index, names = [], set(), None, set()
    for index, item in enumerate(raw):
        if item.get("default"):
            if default_index is not None:
                raise BakeoffError(
                    f"{path}: {label(index)}: field 'default': {label(default_index)} is the default already"
                )
            default_index = index
        if "runtime" in item and "runtimes" in item:
            raise BakeoffError(
                f"{path}: {label(index)}: field 'runtimes': give either 'runtime' or 'runtimes', not both"
            )
        runtimes = item.get("runtimes") or [item.get("runtime", DEFAULT_RUNTIME)]
        _check_device(path, label(index), item, runtimes)
        source = parse_source(item["source"]) if "source" in item else FoundryCatalog(alias=item["name"])
        for position, runtime in enumerate(runtimes):
            if (item["name"], runtime) in seen:
                raise BakeoffError(f"{path}: {label(index)}: field 'name': duplicate model name on runtime {runtime!r}")
            seen.add((item["name"], runtime))
            entries.append(
                ModelEntry(
                    name=item["name"],
                    task=item["task"],
                    min_ram_gb=item["min_ram_gb"],
                    notes=item["notes"],
                    family=item.get("family") or marker_name(item["name"].split("-")[0]),
                    runtime=runtime,
                    source=source,
                    default=item.get("default", False) and position == 0,
                    primary=position == 0 and item["name"] not in names,
                    ctx_size=item.get("ctx_size"),
                    threads=item.get("threads"),
                    precision=item.get("precision", DEFAULT_PRECISION),
                    must_pass_checks=item.get("must_pass_checks", True),
                    selected_by_default=item.get("selected_by_default", True),
                    device=item.get("device", DEFAULT_DEVICE),
                    gpu_layers=item.get("gpu_layers"),
                )
            )
        names.add(item["name"])
    return entries


def _check_device(path: Path, where: str, item: dict, runtimes: list[str]) -> None:
    """A GPU is llama.cpp's (its CUDA build); `gpu_layers` says something only on the GPU."""
    if item.get("device") == "gpu" and any(r not in GPU_RUNTIMES for r in runtimes):
        other = next(r for r in runtimes if r not in GPU_RUNTIMES)
        raise BakeoffError(
            f"{path}: {where}: field 'device': 'gpu' is served by {', '.join(GPU_RUNTIMES)} only, not {other!r}"
        )
    if "gpu_layers" in item and item.get("device") != "gpu":
        raise BakeoffError(f'{path}: {where}: field \'gpu_layers\': only with "device": "gpu"')


def find(entries: list[ModelEntry], name: str, runtime: str | None = None) -> ModelEntry:
    """The entry called `name` (or `NAME@RUNTIME`); without a runtime, the name's first one."""
    if runtime is None and "@" in name:
        name, runtime = name.split("@", 1)
    for entry in entries:
        if entry.name == name and runtime in (None, entry.runtime):
            return entry
    on = f" on runtime {runtime!r}" if runtime else ""
    known = ", ".join(e.label for e in entries)
    raise BakeoffError(f"no model named {name!r}{on} in the registry; known: {known}")


def default_model(entries: list[ModelEntry]) -> ModelEntry:
    for entry in entries:
        if entry.default:
            return entry
    raise BakeoffError("the registry marks no model as default")

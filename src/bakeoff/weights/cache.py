"""Where pulled and compiled models live, and what counts as a finished one.

A compiled model is a directory under the Foundry model cache, `<root>/foundry/bakeoff/<name>/`,
laid out the way Foundry Local's cache expects (`inference_model.json` beside the ONNX files).
It counts as pulled only once `bakeoff-model.json` (the manifest) is in it, and that directory is
only ever moved into place whole, so an interrupted pull never leaves a model that looks good.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from bakeoff.inputs.registry import ModelEntry

MANIFEST = "bakeoff-model.json"
PUBLISHER = "bakeoff"
PARTIAL_SUFFIX = ".partial"


def cache_root() -> Path:
    if os.environ.get("BAKEOFF_CACHE"):
        return Path(os.environ["BAKEOFF_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bakeoff"


def foundry_cache_dir() -> Path:
    """The directory handed to Foundry Local as its model cache."""
    return cache_root() / "foundry"


def model_dir(entry: ModelEntry) -> Path:
    return foundry_cache_dir() / PUBLISHER / entry.name


def foundry_model_id(entry: ModelEntry) -> str:
    """The full model id the web service wants in requests (an alias alone is answered 404)."""
    return f"{entry.name}-bakeoff-cpu:1"


def read_manifest(entry: ModelEntry) -> dict | None:
    try:
        return json.loads((model_dir(entry) / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_pulled(entry: ModelEntry) -> bool:
    return read_manifest(entry) is not None


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def pulled_models() -> list[dict]:
    """Every finished model in the cache, as its manifest plus path and size on disk."""
    found = []
    for manifest_path in sorted((foundry_cache_dir() / PUBLISHER).glob(f"*/{MANIFEST}")):
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            continue
        found.append({**manifest, "path": str(manifest_path.parent), "bytes": directory_size(manifest_path.parent)})
    return found


def clean(name: str | None = None) -> list[Path]:
    """Remove one model (with its leftovers) or the whole cache; returns what was removed."""
    if name is None:
        targets = [cache_root()]
    else:
        publisher_dir = foundry_cache_dir() / PUBLISHER
        targets = [publisher_dir / name, *publisher_dir.glob(f"{name}{PARTIAL_SUFFIX}*")]
    removed = []
    for target in targets:
        if target.exists():
            shutil.rmtree(target)
            removed.append(target)
    return removed

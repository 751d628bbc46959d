"""Bakeoff's cache: the one place that knows every path in it, what counts as a finished model, and
how to list and clean it.

Under `cache_root()` (`$BAKEOFF_CACHE`, else `$XDG_CACHE_HOME/bakeoff`, else `~/.cache/bakeoff`):

    foundry/bakeoff/NAME/          a compiled model, laid out as Foundry Local's cache expects
    foundry/bakeoff/NAME.partial-* a compile in progress (or interrupted)
    foundry/                       the rest: Foundry Local's own files for that model cache
    gguf/NAME.gguf                 a fetched GGUF; NAME.gguf.verified records its check (size,
                                   mtime, sha256), so a later start only stats the file
    gguf/NAME.gguf.partial         a GGUF being assembled
    downloads/, work/              a pull's temporary files (NAME+*)
    build-env/                     the compiler's build environment (torch, transformers, ...)
    wheels/                        built wheels (llama-server's, built on first use)
    llama-server/                  the environment llama-server's wheel is installed into
    llama-server.lock              one llama-server set-up at a time
    foundry-app/                   Foundry Local's app data and logs
    foundry-catalog/               Foundry Local's model cache for catalog models
    logs/                          `bakeoff serve` logs of pytest runs
    logs/pull-NAME.log             the tools' output during NAME's last pull
    servers/                       the servers `bakeoff ps` lists
    pull.lock                      one pull at a time

A compiled model counts as pulled only once `bakeoff-model.json` (the manifest) is in it, and
that directory is only ever moved into place whole, so an interrupted pull never leaves a model
that looks good. Never imports runtimes, deciding, storing or showing.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import DEFAULT_PRECISION, ModelEntry

MANIFEST = "bakeoff-model.json"
PUBLISHER = "bakeoff"
PARTIAL_SUFFIX = ".partial"
VERIFIED_SUFFIX = ".verified"
# As models.json's schema allows: no "/", no "..", nothing a glob would expand.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# Top-level entries of the cache and what they are, for `bakeoff cache list`.
TOP_LEVEL = {
    "build-env": "compiler build environment",
    "wheels": "built wheels",
    "llama-server": "llama-server environment",
    "llama-server.lock": "llama-server set-up lock",
    "foundry-app": "Foundry Local app data",
    "foundry-catalog": "Foundry catalog models",
    "logs": "serve logs",
    "servers": "running servers",
    "downloads": "unfinished downloads",
    "work": "unfinished compiles",
    "pull.lock": "pull lock",
}


def cache_root() -> Path:
    if os.environ.get("BAKEOFF_CACHE"):
        return Path(os.environ["BAKEOFF_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bakeoff"


def foundry_cache_dir() -> Path:
    """The directory handed to Foundry Local as its model cache for compiled models."""
    return cache_root() / "foundry"


def _compiled_dir() -> Path:
    return foundry_cache_dir() / PUBLISHER


def _gguf_dir() -> Path:
    return cache_root() / "gguf"


def model_dir(entry: ModelEntry) -> Path:
    return _compiled_dir() / entry.name


def partial_model_dir(entry: ModelEntry, pid: int) -> Path:
    return _compiled_dir() / f"{entry.name}{PARTIAL_SUFFIX}-{pid}"


def gguf_path(entry: ModelEntry) -> Path:
    return _gguf_dir() / f"{entry.name}.gguf"


def gguf_verified_path(entry: ModelEntry) -> Path:
    return _gguf_dir() / f"{entry.name}.gguf{VERIFIED_SUFFIX}"


def partial_gguf_path(entry: ModelEntry) -> Path:
    return _gguf_dir() / f"{entry.name}.gguf{PARTIAL_SUFFIX}"


def temp_prefix(name: str) -> str:
    """How a pull's temporary directories for model `name` begin ("+" is never part of a name)."""
    return f"{name}+"


def downloads_dir() -> Path:
    return cache_root() / "downloads"


def work_dir() -> Path:
    return cache_root() / "work"


def build_env_dir() -> Path:
    return cache_root() / "build-env"


def wheels_dir() -> Path:
    return cache_root() / "wheels"


def llama_server_env_dir() -> Path:
    """The environment bakeoff installs its llama-server wheel into, apart from the user's."""
    return cache_root() / "llama-server"


def llama_server_lock_path() -> Path:
    return cache_root() / "llama-server.lock"


def llama_server_build_log() -> Path:
    return logs_dir() / "llama-server-build.log"


def logs_dir() -> Path:
    return cache_root() / "logs"


def pull_log_path(entry: ModelEntry) -> Path:
    """The tools' output (pip, the converter, the ONNX builder) during the last pull of `entry`."""
    return logs_dir() / f"pull-{entry.name}.log"


def serve_log_path(entry: ModelEntry, run_id: str) -> Path:
    return logs_dir() / f"serve-{entry.name}-{entry.runtime}-{run_id}.log"


def judge_log_path(entry: ModelEntry, run_id: str) -> Path:
    return logs_dir() / f"judge-{entry.name}-{entry.runtime}-{run_id}.log"


def foundry_app_dir() -> Path:
    return cache_root() / "foundry-app"


def catalog_models_dir() -> Path:
    """Foundry Local's model cache for catalog models, apart from the one for compiled models.

    Foundry Local keeps the last catalog listing it saw in its cache directory, and needs it to
    find a downloaded model offline. Our own catalog would overwrite the public one's listing there.
    """
    return cache_root() / "foundry-catalog"


def servers_dir() -> Path:
    return cache_root() / "servers"


def pull_lock_path() -> Path:
    return cache_root() / "pull.lock"


def foundry_model_id(entry: ModelEntry) -> str:
    """The full model id the web service wants in requests (an alias alone is answered 404)."""
    return f"{entry.name}-bakeoff-cpu:1"


def read_manifest(entry: ModelEntry) -> dict | None:
    try:
        return json.loads((model_dir(entry) / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_pulled(entry: ModelEntry) -> bool:
    """Compiled and finished, in the precision models.json asks for now (another one compiles again)."""
    manifest = read_manifest(entry)
    return manifest is not None and manifest.get("precision", DEFAULT_PRECISION) == entry.precision


def size_on_disk(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# Listing and cleaning


@dataclass(frozen=True)
class Item:
    kind: str
    model: str | None  # the model it belongs to, if any
    path: Path
    bytes: int


def contents() -> list[Item]:
    """Everything in the cache, one item per model file or directory and per other top-level entry."""
    root = cache_root()
    if not root.is_dir():
        return []
    items = [*_model_items()]
    foundry_rest = [p for p in sorted(foundry_cache_dir().glob("*")) if p != _compiled_dir()]
    items += [Item("Foundry Local cache", None, p, size_on_disk(p)) for p in foundry_rest]
    for path in sorted(root.iterdir()):
        if path.name in ("foundry", "gguf"):
            continue
        kind = TOP_LEVEL.get(path.name, "other")
        if kind == "built wheels":
            items += [Item("built wheel", None, wheel, size_on_disk(wheel)) for wheel in sorted(path.glob("*"))]
        else:
            items.append(Item(kind, None, path, size_on_disk(path)))
    return items


def _model_items() -> list[Item]:
    items = []
    for path in sorted(_compiled_dir().glob("*")):
        name, partial, _ = path.name.partition(PARTIAL_SUFFIX)
        kind = (
            "partial compile" if partial else "compiled model" if (path / MANIFEST).exists() else "unfinished compile"
        )
        items.append(Item(kind, name, path, size_on_disk(path)))
    for path in sorted(_gguf_dir().glob("*")):
        if path.name.endswith(VERIFIED_SUFFIX):
            continue  # counted with its GGUF
        name, partial, _ = path.name.partition(".gguf")
        kind = "partial GGUF" if path.name.endswith(PARTIAL_SUFFIX) else "GGUF"
        verified = path.with_name(path.name + VERIFIED_SUFFIX)
        extra = verified.lstat().st_size if verified.exists() else 0
        items.append(Item(kind, name, path, size_on_disk(path) + extra))
    return items


def model_names() -> list[str]:
    """The models that have files in the cache."""
    return sorted({item.model for item in _model_items() if item.model is not None})


def check_model_name(name: str) -> None:
    """Refuse a name that is not a plain model name, so cleaning it can only touch that model's files."""
    if not MODEL_NAME.fullmatch(name):
        raise BakeoffError(f"{name!r} is not a model name (a registry name such as qwen2.5-coder-0.5b)")


def model_files(name: str) -> list[Path]:
    """Every file or directory in the cache that belongs to model `name`: compiled, GGUF, partials, temporary."""
    check_model_name(name)
    compiled, ggufs = _compiled_dir(), _gguf_dir()
    candidates = [
        compiled / name,
        *compiled.glob(f"{name}{PARTIAL_SUFFIX}-*"),
        ggufs / f"{name}.gguf",
        ggufs / f"{name}.gguf{VERIFIED_SUFFIX}",
        ggufs / f"{name}.gguf{PARTIAL_SUFFIX}",
        logs_dir() / f"pull-{name}.log",
        *downloads_dir().glob(f"{temp_prefix(name)}*"),
        *work_dir().glob(f"{temp_prefix(name)}*"),
    ]
    root = cache_root().resolve()
    found = []
    for path in candidates:
        if not (path.exists() or path.is_symlink()):
            continue
        # The entry itself must sit inside the cache (a link is removed, never followed).
        if not path.parent.resolve().is_relative_to(root):
            raise BakeoffError(f"{path} is outside the cache {root}: not removing it")
        found.append(path)
    return found


def clean(name: str | None = None) -> list[Path]:
    """Remove one model's files (see `model_files`), or the whole cache; returns what was removed."""
    targets = [cache_root()] if name is None else model_files(name)
    removed = []
    for target in targets:
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        else:
            continue
        removed.append(target)
    return removed


@contextmanager
def exclusive(lock_path: Path, progress: Callable[[str], None], waiting: str) -> Iterator[None]:
    """Hold `lock_path` (a file lock) for the block; says `waiting` while another process holds it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(waiting)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield

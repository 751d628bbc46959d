"""The model servers bakeoff started and that still run, for `bakeoff ps`.

Each `bakeoff serve` writes one small file under `cache.servers_dir()` once its model is ready and
removes it when it stops. A file whose process is gone (killed hard) is ignored and cleared.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bakeoff.inputs.registry import ModelEntry
from bakeoff.measure.memory import tree_rss
from bakeoff.runtimes.base import ReadyInfo
from bakeoff.weights import cache


def _own_file() -> Path:
    return cache.servers_dir() / f"{os.getpid()}.json"


def record(entry: ModelEntry, ready: ReadyInfo) -> None:
    """Note this `bakeoff serve` process and the server it made ready."""
    me = psutil.Process()
    state = {
        "name": entry.name,
        "runtime": entry.runtime,
        "label": entry.label,
        "url": ready.url,
        "model_id": ready.model_id,
        "pid": me.pid,
        "create_time": me.create_time(),
        "server_pid": ready.pid,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    cache.servers_dir().mkdir(parents=True, exist_ok=True)
    staging = _own_file().with_suffix(".tmp")
    staging.write_text(json.dumps(state) + "\n")
    os.replace(staging, _own_file())


def forget() -> None:
    _own_file().unlink(missing_ok=True)


def running() -> list[dict]:
    """Every recorded server whose `bakeoff serve` process still runs, with its tree's RSS now."""
    found = []
    for path in sorted(cache.servers_dir().glob("*.json")):
        try:
            state = json.loads(path.read_text())
            process = psutil.Process(state["pid"])
            # A recycled pid belongs to another process, started at another time.
            if abs(process.create_time() - state["create_time"]) > 1:
                raise psutil.NoSuchProcess(state["pid"])
            state["rss_bytes"] = tree_rss(process)
        except (json.JSONDecodeError, KeyError, psutil.NoSuchProcess):
            path.unlink(missing_ok=True)
            continue
        found.append(state)
    return found

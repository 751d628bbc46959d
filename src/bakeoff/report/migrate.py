"""Reading reports of earlier versions: each version's data is brought up to the current one, step
by step, before it is validated, so a stored report keeps loading, comparing and rendering.

Version 1 keyed the environment's runtime versions by the name each runtime gave itself
("foundry-local", "llama.cpp"); version 2 keys them by the runtime's key, as models' `runtime`.
"""

from __future__ import annotations

import copy

from bakeoff.report.model import SCHEMA

# The names version 1 stored for each runtime (frozen: they are what old files hold).
V1_RUNTIME_NAMES = {"foundry-local": "foundry", "llama.cpp": "llamacpp", "foundry-cli": "foundry_cli"}


def runtime_key(name: str) -> str:
    """The key of a runtime named as version 1 named it; a key is returned as it is."""
    return V1_RUNTIME_NAMES.get(name, name)


def _from_v1(data: dict) -> dict:
    data["schema"] = "bakeoff.report/2"
    environment = data.get("environment")
    if isinstance(environment, dict) and isinstance(environment.get("runtimes"), dict):
        environment["runtimes"] = {runtime_key(name): v for name, v in environment["runtimes"].items()}
    return data


STEPS = {"bakeoff.report/1": _from_v1}


def migrate(data: object) -> object:
    """`data` brought up to the current version (a copy); anything else is left for validation to refuse."""
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    while data.get("schema") in STEPS:
        data = STEPS[data["schema"]](data)
    if "schema" in data and data["schema"] != SCHEMA:
        raise ValueError(f"field 'schema': unknown report version {data['schema']!r}; this bakeoff reads up to {SCHEMA}")
    return data

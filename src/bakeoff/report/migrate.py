"""Reading reports of earlier versions: each version's data is brought up to the current one, step
by step, before it is validated, so a stored report keeps loading, comparing and rendering.

Version 1 keyed the environment's runtime versions by the name each runtime gave itself
("foundry-local", "llama.cpp"); version 2 keys them by the runtime's key, as models' `runtime`.
Version 2 kept the prompts file's path and digest (`prompts_file`, `prompts_sha256`); version 3
keeps the identity of the prompt source (`prompt_source`: kind, name, digest), prompts.yaml or another.
"""

from __future__ import annotations

import copy

from bakeoff.report.model import SCHEMA

# The kind of source a version-2 report's prompts file was (bakeoff.inputs.prompts_yaml.KIND, frozen here).
PROMPTS_YAML = "prompts-yaml"
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


def _from_v2(data: dict) -> dict:
    data["schema"] = "bakeoff.report/3"
    path, digest = data.pop("prompts_file", None), data.pop("prompts_sha256", None)
    if path is not None or digest is not None:  # a v2 run read prompts.yaml, the one source it had
        data["prompt_source"] = {"kind": PROMPTS_YAML, "name": path or "prompts.yaml", "sha256": digest}
    return data


STEPS = {"bakeoff.report/1": _from_v1, "bakeoff.report/2": _from_v2}


def migrate(data: object) -> object:
    """`data` brought up to the current version (a copy); anything else is left for validation to refuse."""
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    while data.get("schema") in STEPS:
        data = STEPS[data["schema"]](data)
    if "schema" in data and data["schema"] != SCHEMA:
        raise ValueError(
            f"field 'schema': unknown report version {data['schema']!r}; this bakeoff reads up to {SCHEMA}"
        )
    return data

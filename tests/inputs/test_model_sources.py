"""Model sources are typed: one frozen dataclass per source type, parsed once when models.json loads,
their fields the same as the schema's shapes; a bad source still stops with one line naming the
file, the entry and the field (exit code 2)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bakeoff.inputs.model_sources import (
    SOURCE_CLASSES,
    FoundryCatalog,
    GgufFile,
    OpenAIEndpoint,
    PypiGguf,
    parse_source,
)
from bakeoff.inputs.registry import ModelEntry, find, load_registry
from bakeoff.inputs.validation import schema
from bakeoff.runtimes.process import serve_argv

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"name": "m", "task": "chat", "min_ram_gb": 1, "notes": ""}


def schema_shapes() -> dict[str, dict]:
    """Each source type's shape in models.schema.json: its `then` of the `allOf`."""
    shapes = {}
    for rule in schema("models.schema.json")["items"]["properties"]["source"]["allOf"]:
        chosen = rule["if"]["properties"]["type"]
        for source_type in chosen.get("enum", [chosen.get("const")]):
            shapes[source_type] = rule["then"]
    return shapes


def test_each_source_class_has_the_fields_of_its_schema_shape():
    shapes = schema_shapes()
    assert set(shapes) == set(SOURCE_CLASSES)
    for source_type, cls in SOURCE_CLASSES.items():
        fields = {field.name: field for field in dataclasses.fields(cls)}
        required = {name for name, field in fields.items() if field.default is dataclasses.MISSING}
        assert set(shapes[source_type]["properties"]) == set(fields), source_type
        assert set(shapes[source_type]["required"]) == required | {"type"}, source_type
        assert dataclasses.fields(cls) and cls.__dataclass_params__.frozen


def test_the_shipped_registry_loads_typed_sources():
    entries = load_registry(ROOT / "models.json")
    assert all(isinstance(entry.source, SOURCE_CLASSES[entry.source.type]) for entry in entries)
    default = find(entries, "qwen2.5-coder-0.5b")
    assert isinstance(default.source, PypiGguf) and default.source.size == 491400064 and len(default.source.packages) == 6
    assert find(entries, "phi-4-mini").source == FoundryCatalog(alias="phi-4-mini")


def test_an_item_without_a_source_is_its_name_in_the_foundry_catalog(tmp_path):
    path = tmp_path / "models.json"
    path.write_text(json.dumps([GOOD]))
    [entry] = load_registry(path)
    assert (entry.runtime, entry.source) == ("foundry", FoundryCatalog(alias="m"))


@pytest.mark.parametrize(
    "source",
    [
        PypiGguf(packages=("a-part1", "a-part2"), sha256="a" * 64, size=10, file=None),
        GgufFile(path="~/m.gguf", sha256=None),
        OpenAIEndpoint(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="KEY", pid=7),
    ],
)
def test_the_entry_a_parent_hands_bakeoff_serve_comes_back_the_same(tmp_path, source):
    entry = ModelEntry("m", "chat", 1, "", "m", "llamacpp", source, ctx_size=2048)
    argv = serve_argv(entry.name, tmp_path / "models.json", entry=entry)
    again = ModelEntry.from_fields(json.loads(argv[argv.index("--entry-json") + 1]))
    assert again == entry and again.source == source  # `source` is left out of an entry's ==


def test_parsing_a_source_is_a_lookup_by_type_that_freezes_lists():
    source = parse_source({"type": "pypi-gguf", "packages": ["p"], "sha256": "b" * 64, "size": 3})
    assert source == PypiGguf(packages=("p",), sha256="b" * 64, size=3) and hash(source)
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.size = 4  # type: ignore[misc]


def test_a_bad_source_stops_bakeoff_with_one_line_naming_file_entry_and_field(tmp_path):
    bad = {**GOOD, "runtime": "endpoint", "source": {"type": "openai-endpoint", "base_url": "ftp://x", "model": "m"}}
    (tmp_path / "models.json").write_text(json.dumps([bad]))
    result = subprocess.run([sys.executable, "-m", "bakeoff", "models"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("models.json: entry 0 (m): field 'source.base_url': 'ftp://x' does not match '^https?://'")


def test_no_module_reads_a_source_by_string_key():
    keyed = re.compile(r"source(\[|\.get\()")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "src" / "bakeoff").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if keyed.search(line)
    ]
    assert offenders == []

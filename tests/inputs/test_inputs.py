"""models.json and prompts.yaml: the shipped files load, and bad input names file, entry and field."""

import json
from pathlib import Path

import pytest

from bakeoff import load_prompts
from bakeoff.errors import BakeoffError
from bakeoff.inputs.registry import default_model, load_registry, ram_shortfall

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_registry_is_valid_and_readable_by_the_course_script():
    entries = load_registry(ROOT / "models.json")
    assert default_model(entries).name == "qwen2.5-coder-0.5b"
    # The course's plain selection: load the list, keep task matches that fit the RAM.
    raw = json.loads((ROOT / "models.json").read_text())
    chat_models = [m["name"] for m in raw if m["task"] == "chat" and m["min_ram_gb"] <= 24]
    assert {"phi-4-mini", "phi-4", "llama-3.2"} <= set(chat_models)
    for name in ["phi-4-mini", "phi-4", "qwen2.5-7b-instruct", "deepseek-r1-distill-qwen-7b", "llama-3.2", "qwen2.5-14b-instruct"]:
        assert name in {e.name for e in entries}


def test_markers_cover_family_task_runtime_and_name():
    entries = {e.label: e for e in load_registry(ROOT / "models.json")}
    assert entries["qwen2.5-coder-0.5b"].markers == ["qwen", "code", "foundry", "qwen2_5_coder_0_5b"]
    assert entries["qwen2.5-coder-0.5b@llamacpp"].markers == ["qwen", "code", "llamacpp", "qwen2_5_coder_0_5b"]
    assert "phi" in entries["phi-4-mini"].markers


def write_registry(tmp_path, entries):
    path = tmp_path / "models.json"
    path.write_text(json.dumps(entries))
    return path


GOOD = {"name": "m1", "task": "chat", "min_ram_gb": 1, "notes": ""}


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({**GOOD, "min_ram_gb": "eight"}, "entry 1 (m1): field 'min_ram_gb': 'eight' is not of type 'number'"),
        ({k: v for k, v in GOOD.items() if k != "task"}, "entry 1 (m1): field '(the entry itself)': 'task' is a required property"),
        ({**GOOD, "source": {"type": "pypi-gguf", "packages": [], "sha256": "a" * 64, "size": 1}}, "entry 1 (m1): field 'source.packages': [] should be non-empty"),
    ],
)
def test_bad_registry_entry_is_named_in_one_line(tmp_path, bad, expected):
    path = write_registry(tmp_path, [{**GOOD, "name": "m0"}, bad])
    with pytest.raises(BakeoffError) as error:
        load_registry(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and expected in message
    assert "\n" not in message


def test_duplicate_model_name_is_rejected(tmp_path):
    with pytest.raises(BakeoffError, match=r"entry 1 \(m1\): field 'name': duplicate"):
        load_registry(write_registry(tmp_path, [GOOD, GOOD]))


def test_invalid_json_names_the_position(tmp_path):
    path = tmp_path / "models.json"
    path.write_text('[{"name": "x",}]')
    with pytest.raises(BakeoffError, match=r"not valid JSON: line 1 column"):
        load_registry(path)


def test_ram_shortfall_gives_the_reason():
    huge = load_registry(ROOT / "models.json")[0].__class__(
        name="big", task="chat", min_ram_gb=100000, notes="", family="x", runtime="foundry", source={}
    )
    assert "needs 100000 GB RAM; this machine has" in ram_shortfall(huge)


def test_shipped_prompts_each_have_a_check():
    prompts = load_prompts(ROOT / "prompts.yaml")
    texts = [p.text for p in prompts]
    for course_prompt in ["Explain edge AI in one sentence.", "Hello, please introduce yourself.", "Say hello in 5 words."]:
        assert course_prompt in texts
    assert all(p.checks for p in prompts)
    arithmetic = next(p for p in prompts if p.id == "arithmetic-7x6")
    assert arithmetic.checks[0].kind == "equals" and arithmetic.checks[0].argument == "42"


def write_prompts(tmp_path, text):
    path = tmp_path / "prompts.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "body, expected",
    [
        ("prompts:\n  - {id: a, text: hi, checks: [{sparkles: 1}]}\n", "prompt 0 (a): field 'checks.0': unknown check 'sparkles'"),
        ("prompts:\n  - {id: a, text: hi, checks: [{regex: {pattern: '('}}]}\n", "prompt 0 (a): field 'checks.0': bad regex"),
        ("prompts:\n  - {id: a, text: hi, checks: [{contains: x}]}\n  - {id: b, text: hi, repeats: many, checks: [{contains: x}]}\n",
         "prompt 1 (b): field 'repeats': 'many' is not of type 'integer'"),
        ("prompts:\n  - {id: a, text: hi, checks: []}\n", "prompt 0 (a): field 'checks'"),
        ("prompts:\n  - {id: a, text: hi, checks: [{max_words: {limit: 3, unit: x}}]}\n", "field 'checks.0': check 'max_words'"),
        ("defaults: {repeats: 0}\nprompts:\n  - {id: a, text: hi, checks: [{contains: x}]}\n", "defaults: field 'repeats'"),
    ],
)
def test_bad_prompt_is_named_in_one_line(tmp_path, body, expected):
    path = write_prompts(tmp_path, body)
    with pytest.raises(BakeoffError) as error:
        load_prompts(path)
    assert expected in str(error.value) and str(error.value).startswith(str(path))
    assert "\n" not in str(error.value)


def test_prompt_settings_fall_back_to_defaults(tmp_path):
    path = write_prompts(tmp_path, "defaults: {repeats: 5}\nprompts:\n  - {id: a, text: hi, max_tokens: 9, checks: [{contains: x}]}\n")
    (prompt,) = load_prompts(path)
    assert (prompt.repeats, prompt.max_tokens, prompt.temperature) == (5, 9, 0.0)


@pytest.mark.parametrize("loader", [load_registry, load_prompts])
@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00binary"), "not UTF-8 text"),
        (lambda p: p.write_text("[" * 5000 + "]" * 5000), "nested too deeply"),
    ],
)
def test_unreadable_input_files_give_one_line(tmp_path, loader, make, expected):
    path = tmp_path / "input"
    make(path)
    with pytest.raises(BakeoffError) as error:
        loader(path)
    assert str(error.value).startswith(f"{path}: ") and expected in str(error.value)
    assert "\n" not in str(error.value)

"""Gate settings from pyproject.toml: defaults, validation with one-line errors, and matching."""

import pytest

from bakeoff.decide.gates import gate_for
from bakeoff.errors import BakeoffError
from bakeoff.inputs.settings import DEFAULT_GATES, Gate, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file_or_a_table(tmp_path):
    assert load_settings(tmp_path / "missing.toml").gates == DEFAULT_GATES
    settings = load_settings(write(tmp_path, "[project]\nname = 'x'\n"))
    assert settings.gates == DEFAULT_GATES and settings.switch == DEFAULT_GATES
    assert settings.baseline == tmp_path / "reports/baseline.json"


def test_gates_and_switch_budgets_are_read(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            """
[tool.bakeoff]
baseline = "base/line.json"
min_effect = 0.1

[[tool.bakeoff.gates]]
metric = "ttft_s"
max_increase = 0.2

[[tool.bakeoff.gates]]
metric = "ttft_s"
model = "phi-4"
prompt = "long-essay"
max_increase = 0.5

[[tool.bakeoff.switch]]
metric = "peak_rss_bytes"
max = 4e9
""",
        )
    )
    assert settings.gates == (Gate("ttft_s", max_increase=0.2), Gate("ttft_s", model="phi-4", prompt="long-essay", max_increase=0.5))
    assert settings.switch == (Gate("peak_rss_bytes", max=4e9),)
    assert settings.min_effect == 0.1 and settings.baseline == tmp_path / "base/line.json"


def test_switch_defaults_to_the_gates(tmp_path):
    settings = load_settings(write(tmp_path, "[[tool.bakeoff.gates]]\nmetric = 'total_s'\nmax_increase = 0.3\n"))
    assert settings.switch == settings.gates == (Gate("total_s", max_increase=0.3),)


@pytest.mark.parametrize(
    "table, message",
    [
        ("[[tool.bakeoff.gates]]\nmetric = 'speed'\nmax = 1\n",
         "[[tool.bakeoff.gates]] entry 0: field 'metric': 'speed' is not one of"),
        ("[[tool.bakeoff.gates]]\nmetric = 'ttft_s'\nmax_increase = -1\n",
         "[[tool.bakeoff.gates]] entry 0: field 'max_increase': -1 is less than the minimum of 0"),
        ("[[tool.bakeoff.gates]]\nmetric = 'ttft_s'\nmax_increse = 0.1\n",
         "[[tool.bakeoff.gates]] entry 0: field '(the entry itself)': Additional properties are not allowed ('max_increse' was unexpected)"),
        ("[[tool.bakeoff.switch]]\nmetric = 'ttft_s'\nmax_new_failures = 1\n",
         "[[tool.bakeoff.switch]] entry 0 (ttft_s): field 'max_new_failures': only applies to metric check_pass_rate"),
        ("[[tool.bakeoff.gates]]\nmetric = 'peak_rss_bytes'\nprompt = 'p'\nmax = 1\n",
         "[[tool.bakeoff.gates]] entry 0 (peak_rss_bytes): field 'prompt': peak_rss_bytes is measured per model"),
        ("[tool.bakeoff]\nmin_effect = 'big'\n", "[tool.bakeoff]: field 'min_effect': 'big' is not of type 'number'"),
        ("[tool.bakeoff\n", "not valid TOML: "),
    ],
)
def test_bad_settings_give_one_line_naming_file_and_field(tmp_path, table, message):
    path = write(tmp_path, table)
    with pytest.raises(BakeoffError) as error:
        load_settings(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_a_gate_without_limits_is_refused(tmp_path):
    with pytest.raises(BakeoffError, match="entry 0 \\(ttft_s\\): needs a limit: max_increase, "):
        load_settings(write(tmp_path, "[[tool.bakeoff.gates]]\nmetric = 'ttft_s'\n"))


def test_the_most_specific_gate_applies():
    general = Gate("ttft_s", max_increase=0.15)
    for_model = Gate("ttft_s", model="phi-4", max_increase=0.3)
    for_model_runtime = Gate("ttft_s", model="phi-4", runtime="llama.cpp", max_increase=0.4)
    for_prompt = Gate("ttft_s", prompt="essay", max_increase=0.5)
    gates = (general, for_model, for_model_runtime, for_prompt)
    assert gate_for(gates, "ttft_s", "qwen", "foundry", None) is general
    assert gate_for(gates, "ttft_s", "phi-4", "foundry", None) is for_model
    assert gate_for(gates, "ttft_s", "phi-4", "llama.cpp", None) is for_model_runtime
    assert gate_for(gates, "ttft_s", "qwen", "foundry", "essay") is for_prompt
    assert gate_for(gates, "ttft_s", "qwen", "foundry", "other") is None  # model-level gates judge all prompts
    assert gate_for(gates, "total_s", "qwen", "foundry", None) is None

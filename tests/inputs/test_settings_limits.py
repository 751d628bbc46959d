"""[tool.bakeoff.limits]: the per-request limits of `--bakeoff-limit` set in pyproject.toml,
validated like every other setting, and the flag still over them."""

from __future__ import annotations

from dataclasses import fields

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.settings import load_settings
from bakeoff.inputs.validation import schema
from bakeoff.measure.client import Limits
from tests.fault_server import MODEL, PROMPTS, TEST, FaultServer


def test_the_schema_names_exactly_the_limits_the_client_has():
    assert set(schema("config.schema.json")["properties"]["limits"]["properties"]) == {f.name for f in fields(Limits)}


def test_limits_are_read_and_the_flag_goes_over_them(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.bakeoff.limits]\nstall_s = 3\nfirst_token_s = 12.5\ndefault_max_tokens = 256\n")
    limits = load_settings(path).limits
    assert limits == {"stall_s": 3, "first_token_s": 12.5, "default_max_tokens": 256}
    merged = Limits.parse(["stall_s=1"], base=Limits(**limits))
    assert (merged.stall_s, merged.first_token_s, merged.default_max_tokens) == (1.0, 12.5, 256)


@pytest.mark.parametrize(
    "table, message",
    [
        ("stall = 3", "[tool.bakeoff.limits]: field '(the entry itself)': Additional properties are not allowed ('stall' was unexpected)"),
        ("stall_s = nan", "[tool.bakeoff.limits]: field 'stall_s': must be a finite number, not NaN or infinity"),
        ("stall_s = 0", "[tool.bakeoff.limits]: field 'stall_s': 0 is less than or equal to the minimum of 0"),
        ("default_max_tokens = 1.5", "[tool.bakeoff.limits]: field 'default_max_tokens': 1.5 is not of type 'integer'"),
    ],
)
def test_bad_limits_are_one_line(tmp_path, table, message):
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.bakeoff.limits]\n{table}\n")
    with pytest.raises(BakeoffError) as raised:
        load_settings(path)
    assert str(raised.value) == f"{path}: {message}"


def test_a_stall_limit_from_pyproject_bounds_a_real_run(eval_project):
    with FaultServer(["ok", "stall"]) as stalling:
        source = {"type": "openai-endpoint", "base_url": f"{stalling.url}/v1", "model": MODEL}
        models = [{"name": "stalls", "task": "chat", "min_ram_gb": 0, "notes": "", "runtime": "endpoint", "source": source}]
        project = eval_project(models, PROMPTS, test=TEST)
        project.makepyprojecttoml("[tool.bakeoff.limits]\nstall_s = 1.5\n")
        result = project.runpytest_subprocess("-p", "no:cacheprovider")
        overridden = project.runpytest_subprocess("-p", "no:cacheprovider", "--bakeoff-limit", "stall_s=1")
    result.stdout.fnmatch_lines(["*stalls: server*stalled: sent nothing for 1.5 s after 1 tokens*"])
    overridden.stdout.fnmatch_lines(["*stalls: server*stalled: sent nothing for 1 s after 1 tokens*"])

"""Reports of version 2, which kept the prompts file's path and digest (`prompts_file`,
`prompts_sha256`) where version 3 keeps the prompt source's identity: they still load, compare
and merge, their digest becoming a prompts-yaml source's."""

from __future__ import annotations

import json
from pathlib import Path

from bakeoff.cli import main
from bakeoff.decide.compare import compare_reports
from bakeoff.inputs.settings import Settings
from bakeoff.report.migrate import migrate
from bakeoff.report.model import SCHEMA
from bakeoff.report.store import load_report

from .test_merge import DIGEST, one_model_report

NOISE = Path(__file__).parents[1] / "data" / "gate_noise"  # real version-2 runs of the default model
NOISE_DIGEST = "2ef6c77cb6638bebad0d407c2106e3e7cfc7d5f898429a2b303fa51af48ba9a4"


def as_v2(made, digest: str = DIGEST) -> dict:
    """A report as version 2 wrote it: the prompts file's path and digest, no prompt source."""
    data = json.loads(made.to_json())
    del data["prompt_source"]
    return {**data, "schema": "bakeoff.report/2", "prompts_file": "/runner/prompts.yaml", "prompts_sha256": digest}


def saved(tmp_path, data: dict, name: str) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_a_v2_report_loads_with_its_prompts_file_as_a_prompts_yaml_source():
    report = load_report(NOISE / "normal-01.json")
    assert report.schema_ == SCHEMA == "bakeoff.report/3"
    assert report.prompt_source.model_dump() == {"kind": "prompts-yaml", "name": "/work/gn/runs/prompts.yaml", "sha256": NOISE_DIGEST}
    assert "prompts_sha256" not in report.to_data() and "prompts_file" not in report.to_data()


def test_a_v2_report_without_a_prompts_digest_has_no_prompt_source():
    data = as_v2(one_model_report("qwen"))
    del data["prompts_file"], data["prompts_sha256"]
    assert "prompt_source" not in migrate(data)


def test_v2_reports_compare_as_they_did_and_as_their_v3_copies_do(tmp_path):
    baseline, candidate = load_report(NOISE / "normal-01.json"), load_report(NOISE / "slow20-09.json")
    resaved = tmp_path / "slow20-09.json"
    resaved.write_text(candidate.to_json())  # written again: version 3

    among_v2 = compare_reports(baseline, candidate, Settings())
    v2_against_v3 = compare_reports(baseline, load_report(resaved), Settings())

    assert json.loads(resaved.read_text())["schema"] == "bakeoff.report/3"
    assert among_v2.rows and among_v2.failed  # the 20% slowdown is found in the old reports
    assert among_v2.to_dict() == v2_against_v3.to_dict()


def test_v2_reports_of_the_same_prompts_merge_into_a_v3_report(tmp_path):
    a = saved(tmp_path, as_v2(one_model_report("qwen")), "a")
    b = saved(tmp_path, as_v2(one_model_report("smollm", runtime="llamacpp")), "b")
    out = tmp_path / "merged.json"

    assert main(["merge", a, b, "-o", str(out)]) == 0

    merged = load_report(out)
    assert json.loads(out.read_text())["schema"] == "bakeoff.report/3"
    assert [m.key for m in merged.models] == [("qwen", "foundry"), ("smollm", "llamacpp")]
    assert merged.prompt_source.model_dump() == {"kind": "prompts-yaml", "name": "/runner/prompts.yaml", "sha256": DIGEST}


def test_v2_reports_of_other_prompts_are_refused(tmp_path, capsys):
    a = saved(tmp_path, as_v2(one_model_report("qwen")), "a")
    b = saved(tmp_path, as_v2(one_model_report("smollm"), digest="ee" * 32), "b")

    assert main(["merge", a, b, "-o", str(tmp_path / "out.json")]) == 2

    err = capsys.readouterr().err.strip()
    assert "b.json was run with other prompts than" in err and "sha256 eeeeeeeeeeee" in err and len(err.splitlines()) == 1

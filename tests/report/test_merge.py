"""Merging reports (`bakeoff merge`, and the controller of a distributed run): what is kept, what is
flagged, and what is refused with one line and exit 2."""

from __future__ import annotations

import json

import pytest

from bakeoff.cli import main
from bakeoff.decide.compare import compare_reports
from bakeoff.inputs.settings import Gate, Settings
from bakeoff.report.merge import MergeRefused, Part, merge
from bakeoff.report.model import PromptSourceRecord
from bakeoff.report.store import load_report

from ..synthetic_reports import model, prompt, report, samples

DIGEST = "d1" * 32
SOURCE = PromptSourceRecord(kind="prompts-yaml", name="prompts.yaml", sha256=DIGEST)
CHECKS = [True, False]


def one_model_report(name: str, runtime: str = "foundry", run_id: str | None = None, *, host: str = "runner-a",
                     started: str = "2026-11-22T21:00:00+00:00", finished: str = "2026-11-22T21:05:00+00:00", **environment):
    prompts = [prompt("short", samples(0.5, 30.0, CHECKS, n=3)), prompt("long", samples(2.0, 30.0, [True], n=3))]
    made = report([model(name, prompts, runtime=runtime)], run_id or f"run-{name}-{runtime}", host=host, **environment)
    made.update(prompt_source=SOURCE, started_at=started, finished_at=finished)
    return made


def saved(tmp_path, made) -> str:
    path = tmp_path / f"{made.run_id}.json"
    path.write_text(made.to_json())
    return str(path)


def outcome(made) -> dict:
    """What a run found, apart from how fast: per model, its prompts' checks and sample counts."""
    return {
        m.key: {p.id: ([(c.check, c.passed) for c in p.checks], len(p.samples)) for p in m.prompts} for m in made.models
    }


def test_a_merge_keeps_every_model_with_its_machine(tmp_path):
    a = one_model_report("qwen", host="runner-a")
    b = one_model_report("smollm", runtime="llamacpp", host="runner-b", cpu="Intel Xeon", ram_gb=7.0)
    out = tmp_path / "merged.json"

    assert main(["merge", saved(tmp_path, a), saved(tmp_path, b), "-o", str(out)]) == 0

    merged = load_report(out)
    assert [m.key for m in merged.models] == [("qwen", "foundry"), ("smollm", "llamacpp")]
    assert outcome(merged) == {**outcome(a), **outcome(b)}
    assert merged.status == "complete" and merged.prompt_source == SOURCE
    by_key = {m.key: m for m in merged.models}
    assert by_key["qwen", "foundry"].environment.host == "runner-a"
    assert by_key["smollm", "llamacpp"].environment.cpu == "Intel Xeon"
    assert [(w.id, w.host, w.models) for w in merged.distribution.workers] == [
        (a.run_id, "runner-a", ["qwen@foundry"]),
        (b.run_id, "runner-b", ["smollm@llamacpp"]),
    ]
    assert not merged.distribution.shared_host
    # Different hardware is flagged, naming the models on each machine.
    [note] = merged.distribution.notes
    assert "2 different machines" in note and "smollm@llamacpp on Intel Xeon" in note


def test_reports_from_one_host_at_overlapping_times_shared_it():
    early = one_model_report("qwen", host="box", started="2026-11-22T21:00:00+00:00", finished="2026-11-22T21:05:00+00:00")
    overlapping = one_model_report("smollm", host="box", started="2026-11-22T21:04:00+00:00", finished="2026-11-22T21:09:00+00:00")
    later = one_model_report("smollm", host="box", started="2026-11-22T21:06:00+00:00", finished="2026-11-22T21:09:00+00:00")

    shared = merge([Part(early, "a.json"), Part(overlapping, "b.json")])
    one_after_another = merge([Part(early, "a.json"), Part(later, "c.json")])

    assert shared.distribution.shared_host
    assert any("a.json and b.json measured at the same time on host box" in n for n in shared.distribution.notes)
    assert not one_after_another.distribution.shared_host and not one_after_another.distribution.notes


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (lambda: one_model_report("qwen", run_id="again"), "qwen@foundry is also in"),
        (lambda: one_model_report("smollm").model_copy(update={"prompt_source": SOURCE.model_copy(update={"sha256": "ff" * 32})}),
         "was run with other prompts than"),
        (lambda: one_model_report("smollm").model_copy(update={"prompt_source": SOURCE.model_copy(update={"kind": "jsonl"})}),
         "was run with other prompts than"),
        (lambda: one_model_report("smollm").model_copy(update={"prompt_source": None}), "does not record its prompts' digest"),
        (lambda: one_model_report("smollm").model_copy(update={"prompt_source": SOURCE.model_copy(update={"sha256": None})}),
         "does not record its prompts' digest"),
    ],
    ids=["same model twice", "other prompts", "another kind of source", "no prompt source", "no prompts digest"],
)
def test_what_cannot_be_merged_is_refused_with_one_line(tmp_path, capsys, second, expected):
    first = saved(tmp_path, one_model_report("qwen"))
    other = saved(tmp_path, second())

    assert main(["merge", first, other, "-o", str(tmp_path / "out.json")]) == 2

    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.json").exists()


def test_reports_of_different_schema_versions_are_refused(tmp_path, capsys):
    v2 = saved(tmp_path, one_model_report("qwen"))
    v1 = tmp_path / "v1.json"
    data = json.loads(one_model_report("smollm").to_json())
    v1.write_text(json.dumps({**data, "schema": "bakeoff.report/1"}))

    assert main(["merge", v2, str(v1), "-o", str(tmp_path / "out.json")]) == 2

    err = capsys.readouterr().err.strip()
    assert "v1.json is a bakeoff.report/1 report" in err and len(err.splitlines()) == 1


def test_refusal_is_a_bakeoff_error():
    with pytest.raises(MergeRefused, match="nothing to merge"):
        merge([])


def test_timing_gates_do_not_judge_a_report_whose_workers_shared_a_host():
    baseline = one_model_report("qwen", host="box")
    # Every timing twice as slow and one check newly failing.
    slow = report([model("qwen", [prompt("short", samples(1.0, 15.0, [False, False], n=3)), prompt("long", samples(4.0, 15.0, [True], n=3))])], "slow", host="box")
    slow.update(prompt_source=SOURCE)
    candidate = merge([Part(slow, "gw0", worker="gw0"), Part(one_model_report("smollm", host="box"), "gw1", worker="gw1")])
    assert candidate.distribution.shared_host
    settings = Settings(gates=(Gate(metric="ttft_s", max_increase=0.15), Gate(metric="check_pass_rate", max_new_failures=0)))

    comparison = compare_reports(baseline, candidate, settings)

    timing = [r for r in comparison.rows if r.metric == "ttft_s" and r.gate]
    checks = [r for r in comparison.rows if r.metric == "check_pass_rate" and r.gate]
    assert timing and all(r.gate.passed is None and "shared a host" in r.gate.reason for r in timing)
    assert any(r.gate.passed is False for r in checks)  # quality gates still judge
    assert not comparison.like_for_like
    assert any("workers shared a host" in w for w in comparison.warnings)


def test_a_comparison_of_merged_reports_compares_each_model_on_its_own_machine():
    def two_machines(order: str, llamacpp_version: str = "b4000", smollm_cpu: str = "Intel Xeon") -> Part:
        qwen = one_model_report("qwen", host="runner-a", runtimes={"foundry": "2.2.1", "llamacpp": llamacpp_version})
        smollm = one_model_report("smollm", runtime="llamacpp", host="runner-b", cpu=smollm_cpu, runtimes={"llamacpp": llamacpp_version})
        parts = [Part(qwen, "qwen.json"), Part(smollm, "smollm.json")]
        return merge(parts if order == "qwen first" else parts[::-1])

    baseline = two_machines("qwen first")

    # The same machines per model, merged in the other order: the reports' own environments (their
    # first parts') differ, the models' machines do not.
    same = compare_reports(baseline, two_machines("smollm first"))
    assert same.like_for_like and not same.warnings
    # smollm moved to another machine and llama.cpp version: said of smollm alone; qwen's own
    # machine updated llama.cpp too, but qwen runs on foundry, so it is not blamed.
    moved = compare_reports(baseline, two_machines("qwen first", llamacpp_version="b5000", smollm_cpu="AMD Ryzen"))
    assert not moved.like_for_like
    assert moved.warnings == ["smollm: different CPU: Intel Xeon -> AMD Ryzen", "smollm: different llamacpp runtime version: b4000 -> b5000"]

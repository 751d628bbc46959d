"""Reports: typed and validated, written atomically beside latest.json, read from every version,
and shown as an 80-column table."""

import json

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.inputs.model_sources import FoundryCatalog
from bakeoff.inputs.registry import ModelEntry
from bakeoff.report.model import PromptResult
from bakeoff.report.store import RunReport, load_report
from bakeoff.show.summary import run_view
from bakeoff.show.table import run_lines

ENTRY = ModelEntry(name="tiny", task="chat", min_ram_gb=1, notes="", family="t", runtime="foundry", source=FoundryCatalog(alias="tiny"))
SKIPPED = ModelEntry(name="phi-4-mini", task="chat", min_ram_gb=8, notes="", family="phi", runtime="foundry", source=FoundryCatalog(alias="phi-4-mini"))


def sample(ttft, tps, response="42"):
    return {"response": response, "ttft_s": ttft, "total_s": ttft + 1, "output_tokens": 10,
            "decode_tokens_per_s": tps, "checks": [{"check": "equals: '42'", "passed": True, "detail": ""}]}


def filled_report(tmp_path) -> RunReport:
    report = RunReport(tmp_path / "models.json")
    record = report.model(ENTRY)
    record.update(status="ran", reason=None, ready_seconds=3.2, peak_rss_bytes=700 * 1024**2, starts=1)
    record.prompts.append(PromptResult(id="p", text="7x6?", repeats=3, passed=True, checks=[],
                                       samples=[sample(0.3, 25.0), sample(0.5, 27.0), sample(0.4, 26.0)]))
    report.model(SKIPPED).update(status="skipped", reason="phi-4-mini: catalog unreachable")
    return report


def test_report_is_written_atomically_with_latest(tmp_path):
    report = filled_report(tmp_path)
    report.finish(None)
    path = report.save(tmp_path / "reports")
    assert path.name == f"{report.run_id}.json"
    assert (tmp_path / "reports" / "latest.json").read_text() == path.read_text()
    assert load_report(path).status == "complete"
    assert [p.name for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")] == []


def test_unfinished_models_make_the_report_incomplete(tmp_path):
    report = RunReport(tmp_path / "models.json")
    assert report.model(ENTRY).status == "not_run"
    path = report.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["status"] == "incomplete" and data["incomplete_reason"] == "run in progress"


def test_an_invalid_report_is_refused_before_writing(tmp_path):
    report = filled_report(tmp_path)
    report.report.models.append(report.report.models[0].model_copy())  # a list is checked as a whole on save
    with pytest.raises(BakeoffError, match="model tiny on runtime foundry is in the report twice"):
        report.save(tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_corrupt_report_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BakeoffError, match="bad.json: cannot read report"):
        load_report(bad)


def test_table_fits_80_columns_and_names_skip_reasons(tmp_path):
    lines = run_lines(run_view(filled_report(tmp_path).report))
    assert all(len(line) <= 80 for line in lines)
    row = next(line for line in lines if line.startswith("tiny"))
    # Medians over the samples: TTFT 400 ms, 26 tokens/s, 700 MB, 1 of 1 prompts passed.
    assert row.split()[2:] == ["3.2", "400", "26.0", "700", "1/1"]
    assert "  phi-4-mini: catalog unreachable" in lines

"""A full disk while the report is written (ENOSPC from the write, as a stand-in for a real full
disk): one clear line, latest.json still the last state written and valid, no traceback."""

from __future__ import annotations

import errno
import json
import os

import pytest

from bakeoff.inputs.model_sources import FoundryCatalog
from bakeoff.inputs.registry import ModelEntry
from bakeoff.report.store import RunReport, load_report
from tests.fault_server import MODEL, PROMPTS, TEST, FaultServer

ENTRY = ModelEntry(name="tiny", task="chat", min_ram_gb=0, notes="", family="tiny", runtime="foundry", source=FoundryCatalog(alias="tiny"))


def no_space(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_keeps_latest_as_it_was_and_says_why(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    report = RunReport(tmp_path / "models.json")
    report.model(ENTRY)
    first = report.save(reports)
    before = (reports / "latest.json").read_text()

    monkeypatch.setattr("bakeoff.report.store.os.fsync", no_space)  # the data does not fit on the disk
    report.model(ENTRY).update(status="ran")
    report.finish(None)
    assert report.save(reports) is None
    assert report.save_error == f"{reports}: cannot write the report: No space left on device; latest.json keeps the last state written"
    assert (reports / "latest.json").read_text() == before and load_report(reports / "latest.json").run_id == report.run_id
    assert sorted(p.name for p in reports.iterdir()) == sorted([first.name, "latest.json", "latest.html"])  # no temporary file left

    monkeypatch.undo()  # space again: the next save writes the whole state
    assert report.save(reports) == first and load_report(reports / "latest.json").status == "complete"
    assert report.save_error is None


FULL_DISK_AT_THE_END = '''
import errno, os
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    # The disk fills up after the run's last test: the final save meets ENOSPC.
    def no_space(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    import bakeoff.report.store
    bakeoff.report.store.os.fsync = no_space
'''


def test_a_run_whose_disk_fills_up_ends_with_one_line_and_a_valid_latest(eval_project):
    with FaultServer(["ok"]) as server:
        source = {"type": "openai-endpoint", "base_url": f"{server.url}/v1", "model": MODEL}
        models = [{"name": "served", "task": "chat", "min_ram_gb": 0, "notes": "", "runtime": "endpoint", "source": source}]
        pytester = eval_project(models, PROMPTS, test=TEST, conftest=FULL_DISK_AT_THE_END)
        result = pytester.runpytest_subprocess("-p", "no:randomly")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-2000:]
    result.assert_outcomes(passed=3)
    errors = [line for line in result.outlines if "bakeoff: error:" in line]
    assert len(errors) == 1 and "cannot write the report: No space left on device" in errors[0], output[-2000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output
    latest = json.loads((pytester.path / "reports" / "latest.json").read_text())
    assert latest["status"] == "incomplete" and latest["incomplete_reason"] == "run in progress"  # the state before the end
    assert len(load_report(pytester.path / "reports" / "latest.json").models[0].prompts) == 3

"""Where a model ran and what it drew, shown and judged: the terminal's GPU block, the page's
accelerator line and columns, the CSV's columns, the comparison rows and the GPU-memory gate, on
the report of the GPU check (tests/data/report_gpu_h200.json: a CPU and a GPU variant of one model
on an NVIDIA H200); and nothing new on a run without a GPU or a power sensor."""

from __future__ import annotations

import copy
import csv
import io
import re
from pathlib import Path

import pytest

from bakeoff.decide.compare import compare_reports
from bakeoff.metrics import METRICS
from bakeoff.report.store import load_report
from bakeoff.show.csv_report import render_csv
from bakeoff.show.html_report import render_html
from bakeoff.show.summary import run_view
from bakeoff.show.table import accelerator_lines, run_lines

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def gpu_report():
    return load_report(DATA / "report_gpu_h200.json")


def variants(report):
    cpu, gpu = (next(m for m in report.models if m.device == device) for device in ("cpu", "gpu"))
    return cpu, gpu


def test_the_recorded_run_has_both_variants_side_by_side(gpu_report):
    cpu, gpu = variants(gpu_report)
    assert cpu.status == gpu.status == "ran"
    assert gpu.peak_gpu_memory_bytes and gpu.joules_per_token and gpu.energy_source == "NVML energy counter"
    assert gpu.gpu_layers == "25/25"  # llama-server's own log: every layer on the GPU
    assert cpu.peak_gpu_memory_bytes is None  # the CPU variant held nothing on the GPU
    assert METRICS["decode_tokens_per_s"].median(gpu.samples) > METRICS["decode_tokens_per_s"].median(cpu.samples)
    assert gpu_report.environment.accelerators[0].name == "NVIDIA H200"


def test_the_terminal_shows_the_device_and_what_it_drew(gpu_report):
    _, gpu = variants(gpu_report)
    lines = run_lines(run_view(gpu_report))
    assert any("device" in line and "GPU MB" in line and "J/tok" in line for line in lines)
    gpu_row = next(line for line in lines if line.startswith(gpu.name + " ") and " gpu " in line)
    assert " 25/25 " in gpu_row
    assert METRICS["peak_gpu_memory_bytes"].number(gpu.peak_gpu_memory_bytes) in gpu_row
    assert METRICS["joules_per_token"].number(gpu.joules_per_token) in gpu_row
    assert all(len(line) <= 80 for line in accelerator_lines(run_view(gpu_report)))


def test_a_run_without_gpu_or_sensor_shows_no_new_block():
    plain = load_report(DATA / "report_qwen_foundry.json")
    assert accelerator_lines(run_view(plain)) == []
    page = render_html(run_view(plain))
    assert "peak GPU memory" not in page and "on the CPU" not in page


def test_the_page_names_the_accelerator_and_the_gpu_columns(gpu_report):
    _, gpu = variants(gpu_report)
    page = render_html(run_view(gpu_report))
    assert "<dt>Accelerator</dt><dd>NVIDIA H200 (151 GB, driver 580.159.04, CUDA 13.0)</dd>" in page
    assert "peak GPU memory MB" in page and "energy per output token J/tok" in page
    assert re.search(r"<td>llama\.cpp [^<]*\(CUDA sm_90\) on the GPU \(25/25 layers\)</td>", page) and re.search(r"<td>llama\.cpp [^<]* on the CPU</td>", page)
    assert METRICS["peak_gpu_memory_bytes"].number(gpu.peak_gpu_memory_bytes) in page


def test_the_csv_has_the_device_and_the_gpu_figures(gpu_report):
    rows = list(csv.DictReader(io.StringIO(render_csv(run_view(gpu_report)))))
    by_device = {row["device"]: row for row in rows}
    _, gpu = variants(gpu_report)
    assert float(by_device["gpu"]["peak_gpu_memory_mb"]) == METRICS["peak_gpu_memory_bytes"].shown(gpu.peak_gpu_memory_bytes)
    assert float(by_device["gpu"]["joules_per_token"]) == METRICS["joules_per_token"].shown(gpu.joules_per_token)
    assert by_device["cpu"]["peak_gpu_memory_mb"] == ""


def test_more_gpu_memory_fails_the_default_gpu_memory_gate(gpu_report):
    candidate = copy.deepcopy(gpu_report)
    _, gpu = variants(candidate)
    gpu.peak_gpu_memory_bytes = int(gpu.peak_gpu_memory_bytes * 1.2)
    comparison = compare_reports(gpu_report, candidate)
    row = next(r for r in comparison.rows if r.metric == "peak_gpu_memory_bytes" and r.model == gpu.name)
    assert row.change == pytest.approx(0.2, abs=1e-6) and row.gate_failed
    assert [r.metric for r in comparison.failed_gates()] == ["peak_gpu_memory_bytes"]
    same = compare_reports(gpu_report, gpu_report)
    assert not same.failed_gates()
    # Rows only where a side measured it: the CPU variant has no GPU-memory or energy row.
    cpu_rows = {r.metric for r in same.rows if r.model != gpu.name}
    assert "peak_gpu_memory_bytes" not in cpu_rows and "joules_per_token" not in cpu_rows
    assert "joules_per_token" in {r.metric for r in same.rows if r.model == gpu.name}


def test_a_different_gpu_is_said_loudly(gpu_report):
    candidate = copy.deepcopy(gpu_report)
    candidate.environment.accelerators = []
    candidate.environment.accelerator_note = "no accelerator (no NVIDIA driver or NVML library found)"
    comparison = compare_reports(gpu_report, candidate)
    assert "different GPU: NVIDIA H200 -> none" in comparison.warnings and not comparison.like_for_like
    older = copy.deepcopy(candidate)
    older.environment.accelerator_note = None  # a report from before GPU discovery: it did not look
    assert not any("GPU" in w for w in compare_reports(gpu_report, older).warnings)

"""Collecting a large registry stays linear (issue 12: 10,000 models took 110 s, quadratically).

Timing is no test on a shared machine, so this counts work instead: the Python function calls
(generators resumed included) that reading a registry, making its markers and its report records,
and validating that report take. A scan per model (a linear search in a loop) makes the count grow
with the square of the registry; linear code doubles it when the registry doubles.
`benchmarks/collect_scale.py` times the real `pytest --collect-only` for 1k/5k/10k models."""

from __future__ import annotations

import json
import sys

from benchmarks.collect_scale import registry

from bakeoff.inputs.registry import load_registry
from bakeoff.report.store import RunReport


def calls_to_collect(count: int, tmp_path) -> int:
    path = tmp_path / f"models-{count}.json"
    models = registry(count)
    for index in range(0, count, 2):  # half the names on a second runtime: NAME@RUNTIME labels too
        models[index] = {**models[index], "runtimes": ["llamacpp", "ollama"], "source": {"type": "gguf-file", "path": "m.gguf"}}
        del models[index]["runtime"]
    path.write_text(json.dumps(models))
    calls = 0

    def count_calls(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    load_registry(path)  # schema validators built and cached outside the count
    sys.setprofile(count_calls)
    try:
        entries = load_registry(path)
        markers = {marker for entry in entries for marker in entry.markers}
        report = RunReport(path)
        for entry in entries + entries:  # each entry's record is made once and found again
            report.model(entry)
        report.report.checked()
    finally:
        sys.setprofile(None)
    assert len(report.report.models) == len(entries) == count * 3 // 2 and markers
    return calls


def test_collecting_twice_the_models_costs_twice_the_work(tmp_path):
    small, large = calls_to_collect(400, tmp_path), calls_to_collect(800, tmp_path)
    assert large / small < 2.2, f"{small} calls for 400 models, {large} for 800: grows faster than linearly"

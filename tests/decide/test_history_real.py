"""`bakeoff history` on real reports made by benchmarks/gate_noise.py (tests/data/gate_noise/).

Each report is one real `pytest evals` run of the default model on Foundry Local (2 prompts x 6
repeats over 3 launches), made one after another on the quiet development machine. normal-NN are
plain runs; slow20-NN ran with the model server held to 85% of every 20 ms (SIGSTOP/SIGCONT),
which cost about a fifth of its decode speed. A nightly series is a list of them in the order
they ran, so a step is a real slowdown and a flat series is real run-to-run noise.
"""

from pathlib import Path

import pytest

from bakeoff.cli import main
from bakeoff.decide.history import WORSE, history
from bakeoff.report.store import load_report

DATA = Path(__file__).resolve().parents[1] / "data" / "gate_noise"


def runs(names: list[str]):
    return [load_report(DATA / f"{name}.json") for name in names]


NORMAL = [f"normal-{i:02d}" for i in range(1, 11)]
STEPPED = NORMAL[:6] + [f"slow20-{i:02d}" for i in range(7, 11)]  # slowed from the 7th run on


def test_ten_real_runs_of_one_model_have_no_change_point():
    found = history(runs(NORMAL))
    assert {s.metric for s in found} >= {"ttft_s", "decode_tokens_per_s", "peak_rss_bytes", "check_pass_rate"}
    assert [(s.metric, s.change_points) for s in found if s.change_points] == []


@pytest.mark.parametrize("metric", ["ttft_s", "decode_tokens_per_s"])
def test_a_real_slowdown_is_found_at_the_run_it_started(metric):
    series = next(s for s in history(runs(STEPPED)) if s.metric == metric)
    assert [p.index for p in series.change_points] == [6]
    point = series.change_points[0]
    assert series.direction(point) == WORSE and abs(point.change) > 0.1
    assert not series.worse_at_last


def test_the_nightly_gate_fails_on_a_real_slowdown_in_the_last_run(tmp_path, capsys):
    names = NORMAL[:9] + ["slow20-10"]
    assert main(["history", *(str(DATA / f"{n}.json") for n in names), "--fail-on-last", "--config", str(tmp_path / "none.toml")]) == 1
    out = capsys.readouterr().out
    assert "(the last run)" in out and "decode tokens/s" in out
    assert main(["history", *(str(DATA / f"{n}.json") for n in NORMAL), "--fail-on-last", "--config", str(tmp_path / "none.toml")]) == 0

"""Human ratings: `bakeoff rate` walks the answers, stores 1-5 scores in the report, resumes,
and the terminal table shows the means."""

import json
import subprocess
import sys

import pytest

from bakeoff.decide.checks import CheckSpec
from bakeoff.decide.evaluation import verdict_for
from bakeoff.inputs.prompts import Prompt
from bakeoff.measure.client import Sample
from bakeoff.report import ratings
from bakeoff.report.store import LATEST, load_report, parse_report, write_report
from bakeoff.show import table
from bakeoff.show.summary import run_view


def prompt_record(prompt_id: str, responses: list[str]) -> dict:
    prompt = Prompt(prompt_id, f"question {prompt_id}?", None, (CheckSpec("contains", "yes"),), len(responses), 32, 0.0, 1.0)
    samples = [Sample(r, 0.4, 1.0, 5, 10, "server usage", 20.0, 0.05, 0.06, "stop") for r in responses]
    verdict = verdict_for(prompt, samples)
    return {
        "id": prompt.id, "text": prompt.text, "messages": prompt.messages, "repeats": prompt.repeats,
        "min_pass_rate": 1.0, "passed": verdict.passed, "error": None, "stats": verdict.stats,
        "checks": verdict.check_records, "samples": verdict.sample_records,
    }


@pytest.fixture
def report_dir(tmp_path):
    model = {
        "name": "m1", "task": "chat", "family": "x", "runtime": "foundry", "status": "ran", "reason": None,
        "prompts": [prompt_record("p1", ["yes", "yes", "yes"]), prompt_record("p2", ["yes \x1b[2J", "no"])],
    }
    report = {
        "schema": "bakeoff.report/1", "run_id": "20261122T220000Z-abc123", "status": "complete",
        "started_at": "2026-11-22T22:00:00+00:00", "finished_at": "2026-11-22T22:01:00+00:00",
        "environment": {"cpu": "x", "cpu_count": 2, "ram_gb": 24, "os": "linux", "python": "3.11", "bakeoff_version": "0.1.0"},
        "models": [model, {**model, "name": "m2", "status": "skipped", "reason": "too big", "prompts": []}],
    }
    write_report(parse_report(report), tmp_path)
    return tmp_path


def rate(path, stdin: str, *extra):
    return subprocess.run(
        [sys.executable, "-m", "bakeoff", "rate", str(path), *extra], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_identical_attempts_are_one_answer(report_dir):
    found = ratings.answers(load_report(report_dir / LATEST))
    assert [(a.prompt.id, a.samples) for a in found] == [("p1", [0, 1, 2]), ("p2", [0]), ("p2", [1])]


def test_rate_stores_scores_resumes_and_shows_means(report_dir):
    latest = report_dir / LATEST
    first = rate(latest, "4\n5\n3\nseven\n2\nq\n", "--rater", "ana")
    assert first.returncode == 0, first.stderr
    assert "3 of 3 answers" in first.stdout
    assert "please type 1, 2, 3, 4 or 5" in first.stdout  # "seven" was asked again
    assert "stopped: 1 rated this time" in first.stdout
    assert "\x1b" not in first.stdout and "yes \\x1b[2J" in first.stdout  # the answer cannot drive the terminal

    stored = load_report(latest)
    (rating,) = stored.models[0].prompts[0].ratings
    assert (rating.samples, rating.accuracy, rating.clarity, rating.completeness, rating.rater) == ([0, 1, 2], 4, 5, 3, "ana")
    # latest.json and <run-id>.json hold the same run, so both carry the rating.
    assert json.loads((report_dir / f"{stored.run_id}.json").read_text()) == stored.to_data()

    second = rate(latest, "s\n1\n1\n1\n")  # skip p2's first answer, rate its second; then input ends
    assert second.returncode == 0, second.stderr
    assert "2 of 3 answers" in second.stdout and "skipped" in second.stdout
    p2 = load_report(latest).models[0].prompts[1]
    assert [(r.samples, r.accuracy, r.rater) for r in p2.ratings] == [([1], 1, None)]

    third = rate(latest, "5\n5\n5\n")
    assert "1 of 3 answers" in third.stdout
    means = ratings.mean_scores(load_report(latest).models[0])
    # Weighed by the attempts each rating covers: p1's answer stands for three.
    assert means == {"accuracy": pytest.approx(18 / 5), "clarity": pytest.approx(21 / 5), "completeness": 3.0, "answers": 3, "attempts": 5}
    assert "rated (mean 1-5)" in third.stdout and "3.6" in third.stdout and "4.2" in third.stdout
    assert "all 3 answers" in rate(latest, "").stdout


def test_table_shows_means_only_when_rated(report_dir):
    report = load_report(report_dir / LATEST)
    assert table.ratings_lines(run_view(report)) == []
    answer = ratings.answers(report)[0]
    ratings.add_rating(answer, {"accuracy": 4, "clarity": 2, "completeness": 5}, rater=None)
    lines = table.run_lines(run_view(report))
    row = next(line for line in lines if line.startswith("m1") and "4.0" in line)
    assert row.split()[1:] == ["4.0", "2.0", "5.0", "1"]
    assert all(len(line) <= 80 for line in lines)


def test_a_rating_needs_every_criterion_in_range(report_dir):
    answer = ratings.answers(load_report(report_dir / LATEST))[0]
    with pytest.raises(ValueError, match="accuracy, clarity, completeness"):
        ratings.add_rating(answer, {"accuracy": 6, "clarity": 2, "completeness": 5}, rater=None)


def test_rating_a_missing_report_is_one_line_and_exit_2(tmp_path):
    result = rate(tmp_path / "nope.json", "")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "nope.json: cannot read report" in result.stderr

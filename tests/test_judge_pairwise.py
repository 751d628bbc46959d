"""`bakeoff gate --pairwise JUDGE`: a judge asked which of two models' answers is better, in both
orders, on stand-ins (the judge is an `endpoint` model pointing at a tests/fake_openai.py server
whose replies are written here; the two models' answers are written into the report)."""

from __future__ import annotations

import json
import re

import pytest

from bakeoff.cli import main

from .fake_openai import serve_answers
from .synthetic_reports import model, prompt, report, samples
from .test_faults import endpoint_model

# prompt id -> (question, small's answer, big's answer, the right answer)
PAIRS = {
    "france": ("Capital of France?", "Lyon.", "Paris.", "Paris."),
    "sum": ("What is 2 + 3?", "6", "5", "5"),
    "italy": ("Capital of Italy?", "Rome.", "Milan.", "Rome."),
    "same": ("Say hi.", "Hi!", "Hi!", "Hi!"),
}


def answered(prompt_id: str, answer: str) -> dict:
    record = prompt(prompt_id, samples(0.3, 40, [True], n=3))
    record["text"] = PAIRS[prompt_id][0]
    for sample in record["samples"]:
        sample["response"] = answer
    return record


@pytest.fixture
def gate(tmp_path, monkeypatch):
    """gate(judge_reply) -> (exit code, the JSON result, the judge's requests)."""
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    small = model("small", [answered(p, pair[1]) for p, pair in PAIRS.items()])
    big = model("big", [answered(p, pair[2]) for p, pair in PAIRS.items()])
    path = tmp_path / "r.json"
    path.write_text(report([small, big], "r").to_json())

    def run(judge_reply, *extra):
        with serve_answers(judge_reply) as (url, requests):
            registry = tmp_path / "models.json"
            registry.write_text(json.dumps([endpoint_model("judge", url)]))
            argv = ["gate", "--from", "small", "--to", "big", str(path), "--models", str(registry), "--pairwise", "judge"]
            code = main([*argv, "--config", str(tmp_path / "no-pyproject.toml"), *extra])
        return code, requests

    return run


def shown(body: dict) -> tuple[str, str]:
    """The two answers a pairwise request shows, in their order."""
    text = body["messages"][-1]["content"]
    return re.search(r"Answer 1:\n(.*?)\n\nAnswer 2:\n(.*?)\n\n", text, re.DOTALL).groups()


def reply(better: int) -> str:
    return json.dumps({"reason": "stand-in", "better": better})


def test_a_judge_that_always_prefers_the_first_answer_gives_only_ties_and_full_position_bias(gate, capsys):
    code, requests = gate(lambda body: reply(1), "--json")
    result = json.loads(capsys.readouterr().out)["pairwise"]
    assert (result["wins"], result["ties"], result["losses"], result["judge_errors"]) == (0, 4, 0, 0)
    assert result["order_disagreement_share"] == 1.0
    # Three pairs of different answers, each asked in both orders (A's first, then B's); the same answer is not asked.
    assert [shown(body) for body in requests[:2]] == [("Lyon.", "Paris."), ("Paris.", "Lyon.")]
    assert len(requests) == 6
    assert all(body["response_format"]["json_schema"]["schema"]["required"] == ["reason", "better"] for body in requests)
    assert code == 0  # the judge informs the switch; it gates nothing


def test_a_judge_that_prefers_the_right_answer_counts_wins_and_losses(gate, capsys):
    right = {pair[3] for pair in PAIRS.values()}
    gate(lambda body: reply(1 if shown(body)[0] in right else 2))
    out = capsys.readouterr().out
    assert "big (foundry) wins 2, ties 1, loses 1 against small (foundry); judge errors 0" in " ".join(out.split())
    assert "position bias, counted as ties) on 0% of 3 pairs" in " ".join(out.split())
    assert "italy: loss" in out and "france: win" in out


def test_a_judge_answering_invalid_json_is_a_judge_error_never_a_win(gate, capsys):
    _, requests = gate(lambda body: "Answer 2 is clearly better!", "--json")
    result = json.loads(capsys.readouterr().out)["pairwise"]
    assert (result["wins"], result["losses"], result["judge_errors"]) == (0, 0, 3)
    assert result["order_disagreement_share"] is None
    assert len(requests) == 3 * 3  # bounded retries on the first order, then the prompt is a judge error
    errors = [p["detail"] for p in result["prompts"] if p["outcome"] == "judge error"]
    assert all("judge error after 3 tries: not JSON" in e and "Answer 2 is clearly better!" in e for e in errors)


def test_a_judge_that_is_one_of_the_two_models_says_so(gate, capsys, tmp_path):
    gate(lambda body: reply(2), "--json")
    assert json.loads(capsys.readouterr().out)["pairwise"]["notes"] == []
    # The registry's judge renamed to one of the compared models.
    small_as_judge = tmp_path / "r.json"
    data = json.loads(small_as_judge.read_text())
    data["models"][0]["name"] = "judge"
    small_as_judge.write_text(json.dumps(data))
    with serve_answers(lambda body: reply(2)) as (url, _):
        (tmp_path / "models.json").write_text(json.dumps([endpoint_model("judge", url)]))
        argv = ["gate", "--from", "judge", "--to", "big", str(small_as_judge), "--models", str(tmp_path / "models.json"), "--pairwise", "judge"]
        main([*argv, "--config", str(tmp_path / "no-pyproject.toml"), "--json"])
    assert "one of the two models compared" in json.loads(capsys.readouterr().out)["pairwise"]["notes"][0]


def test_an_unknown_judge_is_exit_2(gate, capsys, tmp_path):
    (tmp_path / "models.json").write_text("[]")
    argv = ["gate", "--from", "small", "--to", "big", str(tmp_path / "r.json"), "--models", str(tmp_path / "models.json"), "--pairwise", "nobody"]
    assert main([*argv, "--config", str(tmp_path / "no-pyproject.toml")]) == 2
    assert "no model named 'nobody'" in capsys.readouterr().err

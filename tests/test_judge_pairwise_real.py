"""`bakeoff gate --pairwise` with a real model as judge, served through its real runtime.

The ten questions of tests/test_judge_real.py, each with a clearly right and a clearly wrong
answer, are written into a report as two models' answers; which model holds the right answer
alternates, so a judge that always prefers one position cannot look right. The figures (right
answer preferred in both orders, ties from disagreeing orders, judge errors) are printed.
"""

from __future__ import annotations

import json

import pytest

from bakeoff.cli import main
from bakeoff.weights import cache

from .conftest import REGISTRY
from .synthetic_reports import model, prompt, report, samples
from .test_judge_real import PAIRS

pytestmark = pytest.mark.integration

# (registry label, must the right answer win most pairs?)
JUDGES = [("qwen2.5-coder-1.5b", True), ("qwen2.5-coder-0.5b", False), ("smollm2-135m", False)]
SHARED_CACHE = cache.cache_root()


def answered(index: int, answer: str) -> dict:
    record = prompt(f"q{index}", samples(0.3, 40, [True], n=1))
    record["text"] = PAIRS[index][0]
    record["samples"][0]["response"] = answer
    return record


@pytest.mark.parametrize(("judge", "must_prefer_right"), JUDGES, ids=[j for j, _ in JUDGES])
def test_a_real_judge_prefers_the_right_answer_in_both_orders(judge, must_prefer_right, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAKEOFF_CACHE", str(SHARED_CACHE))
    b_is_right = [i % 2 == 0 for i in range(len(PAIRS))]
    a_answers = [wrong if b_right else right for (_, right, wrong), b_right in zip(PAIRS, b_is_right, strict=True)]
    b_answers = [right if b_right else wrong for (_, right, wrong), b_right in zip(PAIRS, b_is_right, strict=True)]
    path = tmp_path / "r.json"
    path.write_text(report([model("a", [answered(i, t) for i, t in enumerate(a_answers)]),
                            model("b", [answered(i, t) for i, t in enumerate(b_answers)])], "r").to_json())
    registry = tmp_path / "models.json"
    registry.write_text(json.dumps([item for item in json.loads(REGISTRY.read_text()) if item["name"] == judge]))
    argv = ["gate", "--from", "a", "--to", "b", str(path), "--models", str(registry), "--pairwise", judge, "--json"]
    main([*argv, "--config", str(tmp_path / "no-pyproject.toml")])
    result = json.loads(capsys.readouterr().out)["pairwise"]
    assert len(result["prompts"]) == len(PAIRS)
    outcomes = [p["outcome"] for p in result["prompts"]]
    right_won = sum(o == ("win" if b_right else "loss") for o, b_right in zip(outcomes, b_is_right, strict=True))
    wrong_won = sum(o == ("loss" if b_right else "win") for o, b_right in zip(outcomes, b_is_right, strict=True))
    figures = {"judge": judge, "right_won": right_won, "wrong_won": wrong_won, "ties": result["ties"],
               "judge_errors": result["judge_errors"], "order_disagreement_share": result["order_disagreement_share"]}
    print(f"\npairwise figures: {json.dumps(figures)}")
    assert right_won + wrong_won + result["ties"] + result["judge_errors"] == len(PAIRS)
    if must_prefer_right:
        assert right_won > wrong_won and result["judge_errors"] == 0, figures
    elif right_won <= wrong_won:
        pytest.xfail(f"{judge} is too small to judge pairs: {figures}")

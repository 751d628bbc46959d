"""A real model as judge: does it score a clearly right answer above a clearly wrong one?

Ten questions, each with a right and a wrong answer written here. Two stand-in candidates serve
them (tests/fake_openai.py: "right" always answers right, "wrong" always wrong), a real
`pytest evals` run records them, and a registry model grades them as the prompts' judge, served
through its real runtime. The bar (issue 14): the right answer scores higher in at least 8 of 10.
The figure for each judge goes to the terminal and to reports/judge-figures.json in the project.
"""

from __future__ import annotations

import json
import statistics

import pytest

from bakeoff.report.store import load_report
from bakeoff.weights import cache

from .conftest import REGISTRY
from .fake_openai import serve_answers
from .test_faults import endpoint_model

pytestmark = pytest.mark.integration

# (question, right answer, wrong answer)
PAIRS = [
    ("What is the capital of France?", "The capital of France is Paris.", "The capital of France is Berlin."),
    ("What is 7 times 6?", "7 times 6 is 42.", "7 times 6 is 56."),
    ("How many legs does a spider have?", "A spider has eight legs.", "A spider has six legs."),
    ("At what temperature does water boil at sea level, in degrees Celsius?", "Water boils at 100 degrees Celsius at sea level.",
     "Water boils at 50 degrees Celsius at sea level."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet.", "Charles Dickens wrote Romeo and Juliet."),
    ("What is the largest planet in the solar system?", "Jupiter is the largest planet in the solar system.",
     "Mars is the largest planet in the solar system."),
    ("In Python, what returns the number of items in a list xs?", "len(xs) returns the number of items in xs.",
     "max(xs) returns the number of items in xs."),
    ("Which gas do plants take from the air for photosynthesis?", "Plants take in carbon dioxide (CO2) for photosynthesis.",
     "Plants take in helium for photosynthesis."),
    ("How many days does a leap year have?", "A leap year has 366 days.", "A leap year has 300 days."),
    ("Explain edge AI in one sentence.",
     "Edge AI runs AI models directly on local devices such as phones or sensors, so data is processed where it is produced instead of in the cloud.",
     "Edge AI is a sharp kitchen knife for cutting vegetables."),
]

# A short reference per question, for the rubric's optional `reference` (never the right answer's words).
REFERENCES = ["Paris", "42", "eight", "100", "William Shakespeare", "Jupiter", "len(xs)", "carbon dioxide", "366", "AI run on local devices"]

# (registry label, with references?, must it meet the bar?): the configuration the README recommends
# must; the others are measured (the figure is printed, and the test xfails below the bar).
JUDGES = [
    ("qwen2.5-coder-1.5b", True, True),
    ("qwen2.5-coder-1.5b", False, False),
    ("qwen2.5-coder-0.5b", True, False),
    ("qwen2.5-coder-0.5b@llamacpp", False, False),
    ("smollm2-135m", True, False),
    ("smollm2-135m@llamacpp", False, False),
]
SHARED_CACHE = cache.cache_root()  # read before pytester gives each run a HOME of its own
TEST = "def test_prompt(model, prompt, evaluate):\n    evaluate(model, prompt)\n\n\ndef test_judge(judged, judge):\n    judge(judged)\n"


def prompts_yaml(judge: str, references: bool) -> str:
    lines = [f"defaults: {{repeats: 1, max_tokens: 64, judge: '{judge}'}}", "prompts:"]
    for i, (question, _, _) in enumerate(PAIRS):
        rubric = f"{{reference: {json.dumps(REFERENCES[i])}}}" if references else "{}"
        lines.append(f"  - {{id: q{i}, text: {json.dumps(question)}, checks: [{{judge: {rubric}}}]}}")
    return "\n".join(lines) + "\n"


def answer(side: int):
    by_question = {q: pair[side] for q, *pair in PAIRS}
    return lambda body: by_question[body["messages"][-1]["content"]]


@pytest.mark.parametrize(("judge", "references", "must_meet_bar"), JUDGES, ids=[f"{j}-{'reference' if r else 'bare'}" for j, r, _ in JUDGES])
def test_a_real_judge_scores_the_right_answer_higher(judge, references, must_meet_bar, eval_project, monkeypatch):
    monkeypatch.setenv("BAKEOFF_CACHE", str(SHARED_CACHE))
    registry = [item for item in json.loads(REGISTRY.read_text()) if item["name"] == judge.split("@")[0]]
    with serve_answers(answer(0)) as (right_url, _), serve_answers(answer(1)) as (wrong_url, _):
        models = [*registry, endpoint_model("right", right_url), endpoint_model("wrong", wrong_url)]
        project = eval_project(models=models, prompts=prompts_yaml(judge, references), test=TEST)
        result = project.runpytest_subprocess("-p", "no:cacheprovider", "-m", "right or wrong", "-s")
    out = result.stdout.str()
    report = load_report(project.path / "reports" / "latest.json")
    right, wrong = ({p.id: p for p in m.prompts} for m in report.models if m.name in ("right", "wrong"))
    assert len(right) == len(wrong) == len(PAIRS), out[-3000:]
    judged = [s.judge for side in (right, wrong) for p in side.values() for s in p.samples]
    assert all(j is not None and j.judge == judge for j in judged), out[-3000:]
    higher = sum(
        right[pid].judge_score is not None and wrong[pid].judge_score is not None and right[pid].judge_score > wrong[pid].judge_score
        for pid in right
    )
    errors = sum(j.error is not None for j in judged)
    figures = {
        "judge": judge,
        "references": references,
        "right_scored_higher": higher,
        "pairs": len(PAIRS),
        "judge_errors": errors,
        "seconds_per_answer_median": statistics.median(j.seconds for j in judged),
        "tries": sum(j.tries for j in judged),
    }
    print(f"\njudge figures: {json.dumps(figures)}")
    (project.path / "reports" / "judge-figures.json").write_text(json.dumps(figures))
    if must_meet_bar:
        assert higher >= 8, f"{judge}: the right answer scored higher in {higher} of {len(PAIRS)}: {figures}"
    elif higher < 8:
        pytest.xfail(f"{judge} is too small to judge: right scored higher in {higher} of {len(PAIRS)} ({figures})")

"""`pytest evals` runs with a `judge` check, on stand-ins: the candidate and the judge are both
`endpoint` models pointing at tests/fake_openai.py servers whose answers are written here.

These prove the wiring and the failure paths (judge items last, one judge for the session, a judge
that answers garbage is a judge error and never a pass, a run without judge checks is unchanged);
that a real model can judge is tests/integration/test_judge_real.py's job.
"""

from __future__ import annotations

import json

from bakeoff.report.store import load_report

from .fake_openai import serve_answers
from .test_faults import endpoint_model

TEST = (
    "def test_prompt(model, prompt, evaluate):\n    assert evaluate(model, prompt).passed\n\n\n"
    "def test_judge(judged, judge):\n    judge(judged)\n"
)
PROMPTS = """
defaults: {repeats: 2, max_tokens: 64, judge: judge}
prompts:
  - {id: capital, text: 'Capital of France?', checks: [{contains: Paris}, {judge: {reference: Paris}}]}
  - {id: plain, text: 'Capital of Italy?', checks: [{contains: Rome}]}
"""
GOOD_SCORES = json.dumps({"reason": "Correct and short.", "accuracy": 5, "clarity": 4, "completeness": 4})


def candidate(body: dict) -> str:
    return "Paris." if "France" in body["messages"][-1]["content"] else "Rome."


def models(candidate_url: str, judge_url: str) -> list[dict]:
    return [endpoint_model("candidate", candidate_url), endpoint_model("judge", judge_url)]


def run(project, *args):
    return project.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args)


def report_of(project):
    return load_report(project.path / "reports" / "latest.json")


def test_a_judge_grades_each_answer_once_after_every_candidate_and_the_scores_reach_the_report(eval_project):
    with serve_answers(candidate) as (cand_url, cand_requests), serve_answers(lambda body: GOOD_SCORES) as (judge_url, judged):
        project = eval_project(models=models(cand_url, judge_url), prompts=PROMPTS, test=TEST)
        result = run(project, "-m", "candidate")
    out = result.stdout.str()
    assert result.ret == 0, out[-3000:]
    lines = [line for line in out.splitlines() if "::test_" in line and ("PASSED" in line or "FAILED" in line)]
    assert lines[-1].split()[0].endswith("test_judge[candidate-capital]")  # after every candidate's prompts
    assert len([line for line in lines if "test_judge" in line]) == 1  # the prompt without a judge check has none
    # Two repeats gave one distinct answer: graded once, with the schema of the scores asked for.
    assert len(judged) == 1
    asked = judged[0]
    assert asked["response_format"]["type"] == "json_schema"
    assert asked["response_format"]["json_schema"]["schema"]["required"] == ["reason", "accuracy", "clarity", "completeness"]
    assert "Paris." in asked["messages"][-1]["content"] and "reference answer" in asked["messages"][-1]["content"]
    prompt = next(p for p in report_of(project).models[0].prompts if p.id == "capital")
    assert [s.judge.scores for s in prompt.samples] == [{"accuracy": 5, "clarity": 4, "completeness": 4}] * 2
    assert prompt.checks[-1].check.startswith("judge") and prompt.checks[-1].passed and prompt.passed
    assert abs(prompt.judge_score - 13 / 3) < 1e-9
    assert all(s.judge.seconds >= 0 and not s.judge.self_judged for s in prompt.samples)
    assert "judged (mean 1-5)" in out
    # The candidate was asked only its own prompts; the judge's requests never went to it.
    assert len(cand_requests) == 4


def test_a_judge_answering_invalid_json_is_a_judge_error_with_its_text_never_a_pass(eval_project):
    with serve_answers(candidate) as (cand_url, _), serve_answers(lambda body: "I think it is fine, 5/5!") as (judge_url, judged):
        project = eval_project(models=models(cand_url, judge_url), prompts=PROMPTS, test=TEST)
        result = run(project, "-m", "candidate")
    out = result.stdout.str()
    assert result.ret == 1, out[-3000:]
    result.stdout.fnmatch_lines(["*test_judge*candidate-capital*FAILED*", "*judge error after 3 tries: not JSON*I think it is fine, 5/5!*"])
    assert len(judged) == 3  # bounded retries, then the error
    prompt = next(p for p in report_of(project).models[0].prompts if p.id == "capital")
    assert not prompt.passed and not prompt.checks[-1].passed
    assert all(s.judge.error and s.judge.raw == "I think it is fine, 5/5!" and not s.judge.scores for s in prompt.samples)
    assert prompt.judge_score is None


def test_scores_outside_the_schema_are_retried_and_a_low_score_fails_the_check(eval_project):
    replies = iter([json.dumps({"reason": "x", "accuracy": 9, "clarity": 1, "completeness": 1}), json.dumps({"reason": "Wrong city.", "accuracy": 1, "clarity": 3, "completeness": 2})])
    with serve_answers(candidate) as (cand_url, _), serve_answers(lambda body: next(replies)) as (judge_url, judged):
        project = eval_project(models=models(cand_url, judge_url), prompts=PROMPTS, test=TEST)
        result = run(project, "-m", "candidate")
    assert result.ret == 1
    assert len(judged) == 2 and judged[1]["temperature"] > 0  # a retry samples rather than repeat itself
    result.stdout.fnmatch_lines(["*judge judge: accuracy 1, clarity 3, completeness 2 (mean 2.00, needs 3): Wrong city.*"])
    assert report_of(project).models[0].prompts[0].samples[0].judge.tries == 2


def test_a_judge_that_grades_its_own_model_says_so(eval_project):
    prompts = PROMPTS.replace("judge: judge}", "judge: candidate}")
    both = json.dumps({"reason": "ok", "accuracy": 4, "clarity": 4, "completeness": 4})
    with serve_answers(lambda body: both if "Answer to grade" in body["messages"][-1]["content"] else candidate(body)) as (url, _):
        project = eval_project(models=[endpoint_model("candidate", url)], prompts=prompts, test=TEST)
        result = run(project)
    assert result.ret == 0, result.stdout.str()[-3000:]
    prompt = report_of(project).models[0].prompts[0]
    assert all(s.judge.self_judged for s in prompt.samples)
    assert "graded by its own model" in prompt.checks[-1].check + prompt.samples[0].checks[-1].detail + result.stdout.str()
    result.stdout.fnmatch_lines(["*candidate: 2 attempt(s) graded by its own model (candidate)*"])


def test_an_unknown_judge_model_stops_the_run_before_any_model_starts(eval_project):
    with serve_answers(candidate) as (cand_url, requests):
        project = eval_project(models=[endpoint_model("candidate", cand_url)], prompts=PROMPTS, test=TEST)
        result = run(project)
    assert result.ret == 4 and not requests
    result.stderr.fnmatch_lines(["*prompts.yaml: prompt capital: judge model: *judge*"])


def test_without_a_judge_check_the_run_has_no_judge_item_and_starts_no_judge(eval_project):
    prompts = "defaults: {repeats: 1, judge: judge}\nprompts:\n  - {id: plain, text: 'Capital of Italy?', checks: [{contains: Rome}]}\n"
    with serve_answers(candidate) as (cand_url, _), serve_answers(lambda body: GOOD_SCORES) as (judge_url, judged):
        project = eval_project(models=models(cand_url, judge_url), prompts=prompts, test=TEST)
        result = run(project, "-m", "candidate")
    assert result.ret == 0
    assert "test_judge" not in result.stdout.str() and not judged
    result.stdout.fnmatch_lines(["*1 passed*"])
    assert "judged" not in result.stdout.str()


def test_a_judge_that_cannot_be_served_fails_the_check_with_why_never_passes_it(eval_project):
    with serve_answers(candidate) as (cand_url, _):
        project = eval_project(models=models(cand_url, "http://127.0.0.1:9"), prompts=PROMPTS, test=TEST)
        result = run(project, "-m", "candidate")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*test_judge*candidate-capital*FAILED*", "*judge error: judge judge not served: *"])
    prompt = next(p for p in report_of(project).models[0].prompts if p.id == "capital")
    assert not prompt.passed and all("not served" in s.judge.error for s in prompt.samples)

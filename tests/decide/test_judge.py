"""The judge check's rubric, its validation of the judge's replies, and agreement with people
(no model here: `ask` is a function that replies with written text; real judges are in
tests/test_judge_real.py)."""

from __future__ import annotations

import json

import pytest

from bakeoff import load_prompts
from bakeoff.decide import judge
from bakeoff.decide.agreement import agreement
from bakeoff.decide.checks import CheckSpec
from bakeoff.decide.compare import compare_reports
from bakeoff.errors import BakeoffError
from bakeoff.show import comparison_table, csv_report, html_report, table
from bakeoff.show.summary import run_view

from .. import synthetic_reports as synth

RUBRIC = judge.Rubric.of(CheckSpec("judge", {}))


def replies(*texts):
    sent = list(texts)
    asked = []

    def ask(messages, options):
        asked.append(options)
        return sent.pop(0) if len(sent) > 1 else sent[0]

    return ask, asked


def grade(ask, **kw):
    return judge.grade(RUBRIC, "Capital of France?", "Paris.", ask, judge_label="j", self_judged=False, json_schema_format={"type": "json_schema"}, **kw)


def test_a_valid_reply_gives_scores_reason_and_a_verdict_by_the_mean():
    ask, asked = replies(json.dumps({"reason": "Right.", "accuracy": 5, "clarity": 4, "completeness": 3}))
    record = grade(ask)
    assert record.scores == {"accuracy": 5, "clarity": 4, "completeness": 3} and record.reason == "Right." and record.tries == 1
    assert len(asked) == 1 and asked[0]["temperature"] == 0
    assert judge.outcome(RUBRIC, record).passed
    assert not judge.outcome(judge.Rubric(RUBRIC.criteria, 4.5, None, None), record).passed


def test_a_reply_in_a_code_fence_is_read():
    ask, _ = replies("```json\n" + json.dumps({"reason": "ok", "accuracy": 1, "clarity": 1, "completeness": 1}) + "\n```")
    assert grade(ask).scores["accuracy"] == 1


@pytest.mark.parametrize(
    "bad",
    ["Great answer, 5/5", json.dumps({"reason": "x", "accuracy": 6, "clarity": 4, "completeness": 4}),
     json.dumps({"reason": "x", "accuracy": 4, "clarity": 4}), json.dumps({"accuracy": 4, "clarity": 4, "completeness": 4}),
     json.dumps({"reason": "x", "accuracy": "4", "clarity": 4, "completeness": 4})],
)
def test_a_reply_that_never_validates_is_a_judge_error_with_the_text_never_a_pass(bad):
    ask, asked = replies(bad)
    record = grade(ask)
    assert len(asked) == judge.TRIES and record.tries == judge.TRIES
    assert record.error.startswith("judge error after 3 tries") and record.raw == bad and record.scores == {}
    result = judge.outcome(RUBRIC, record)
    assert not result.passed and bad[:20] in result.detail


def test_a_judge_that_fails_to_answer_is_a_judge_error():
    def ask(messages, options):
        raise ConnectionError("refused")

    record = grade(ask)
    assert "ConnectionError: refused" in record.error and not judge.outcome(RUBRIC, record).passed


def test_a_threshold_per_criterion_names_the_criteria_that_fell_short():
    rubric = judge.Rubric(RUBRIC.criteria, {"accuracy": 4}, None, None)
    assert rubric.verdict({"accuracy": 3, "clarity": 5, "completeness": 5}) == (False, "accuracy 3 < 4")
    assert rubric.verdict({"accuracy": 4, "clarity": 1, "completeness": 1})[0]


def test_the_request_carries_the_rubric_the_reference_and_a_schema_of_the_scores():
    rubric = judge.Rubric.of(CheckSpec("judge", {"criteria": {"tone": "Is it polite?"}, "reference": "Paris"}))
    text = rubric.messages("Capital?", "Lyon.")[-1]["content"]
    assert "tone: Is it polite?" in text and "Paris" in text and "Lyon." in text
    assert rubric.schema["required"] == ["reason", "tone"] and rubric.schema["properties"]["tone"]["maximum"] == 5


def write_prompts(tmp_path, body: str):
    path = tmp_path / "prompts.yaml"
    path.write_text(body)
    return path


def test_prompts_name_their_judge_once_and_bad_judge_checks_stop_with_one_line(tmp_path):
    ok = write_prompts(tmp_path, "defaults: {judge: big}\nprompts:\n  - {id: a, text: hi, checks: [{judge: {}}]}\n  - {id: b, text: hi, checks: [{judge: {model: other}}]}\n")
    assert [p.judge for p in load_prompts(ok)] == ["big", "other"]
    assert load_prompts(ok)[0].rule_checks == ()
    cases = {
        "prompts:\n  - {id: a, text: hi, checks: [{judge: {}}]}\n": "prompt 0 (a): field 'checks.0': no judge model",
        "defaults: {judge: j}\nprompts:\n  - {id: a, text: hi, checks: [{judge: {}}, {judge: {}}]}\n": "field 'checks.1': one judge check per prompt",
        "defaults: {judge: j}\nprompts:\n  - {id: a, text: hi, checks: [{judge: {threshold: 7}}]}\n": "between 1 and 5",
        "defaults: {judge: j}\nprompts:\n  - {id: a, text: hi, checks: [{judge: {threshold: {tone: 3}}}]}\n": "threshold names tone",
        "defaults: {judge: j}\nprompts:\n  - {id: a, text: hi, checks: [{judge: {criteria: [a]}}]}\n": "argument 'criteria'",
    }
    for body, message in cases.items():
        with pytest.raises(BakeoffError, match="prompts.yaml: prompt 0 \\(a\\)") as raised:
            load_prompts(write_prompts(tmp_path, body))
        assert message in str(raised.value)


# --- Agreement with people, and judge scores wherever human scores are shown ---------------------


def judged_prompt(prompt_id: str, humans: list[int], judges: list[int]) -> dict:
    """A prompt whose distinct answers were rated by a person (all criteria `humans[i]`) and graded
    by the judge (all criteria `judges[i]`)."""
    samples = []
    ratings = []
    for index, (human, judged) in enumerate(zip(humans, judges)):
        sample = synth.samples(0.5, 30.0, [True], n=1, seed=index)[0]
        sample["response"] = f"answer {index}"
        sample["judge"] = {"judge": "big", "scores": dict.fromkeys(("accuracy", "clarity", "completeness"), judged), "reason": "r", "seconds": 1.5}
        samples.append(sample)
        ratings.append({"samples": [index], **dict.fromkeys(("accuracy", "clarity", "completeness"), human), "rated_at": "2026-11-23T00:00:00+00:00"})
    return {**synth.prompt(prompt_id, samples), "ratings": ratings}


def judged_report(run_id: str, humans, judges):
    return synth.report([synth.model("qwen", [judged_prompt("p1", humans, judges), judged_prompt("p2", humans, judges)])], run_id)


def test_agreement_is_ordinal_alpha_per_criterion_with_its_count_of_answers():
    close = agreement(judged_report("a", [1, 2, 4, 5], [1, 2, 4, 5]))
    assert [(a.criterion, a.answers) for a in close] == [("accuracy", 8), ("clarity", 8), ("completeness", 8)]
    assert all(a.alpha == pytest.approx(1.0) for a in close)
    opposite = agreement(judged_report("b", [1, 2, 4, 5], [5, 4, 2, 1]))
    assert all(a.alpha < 0 for a in opposite)
    flat = agreement(judged_report("c", [3, 3], [3, 3]))
    assert flat[0].alpha is None and "every score the same" in flat[0].text
    assert agreement(synth.simple_report("plain")) == []


def test_terminal_html_csv_and_compare_show_judge_scores_and_agreement_with_its_count():
    report = judged_report("run-b", [1, 2, 4, 5], [1, 3, 4, 5])
    view = run_view(report)
    lines = "\n".join(table.run_lines(view))
    assert "judged (mean 1-5)" in lines and "over 8 answers" in lines and "Krippendorff" in lines
    page = html_report.render_html(view)
    assert 'id="agreement"' in page and "accuracy alpha +" in page and "over 8 answers" in page and "judged:" in page
    csv_text = csv_report.render_csv(view)
    header, row = csv_text.splitlines()[:2]
    assert "judge_score" in header.split(",") and "3.25" in row
    comparison = compare_reports(judged_report("run-a", [1, 2, 4, 5], [2, 2, 2, 2]), report)
    judge_rows = [r for r in comparison.rows if r.metric == "judge_score"]
    assert judge_rows and judge_rows[0].prompt is None and judge_rows[0].candidate == pytest.approx(3.25)
    shown = "\n".join(comparison_table.comparison_lines(comparison))
    assert "judge score" in shown and "candidate: accuracy alpha" in shown and "over 8 answers" in shown
    assert comparison.to_dict()["agreement"][0]["answers"] == 8

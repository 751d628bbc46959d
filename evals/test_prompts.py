"""The default evals: every model in models.json answers every prompt in prompts.yaml."""


def test_prompt(model, prompt, evaluate):
    verdict = evaluate(model, prompt)
    assert verdict.passed, verdict.failure_message


def test_judge(judged, judge):
    """Only for prompts with a `judge` check: graded after every model answered, by the judge model."""
    judge(judged)

"""The default evals: every model in models.json answers every prompt in prompts.yaml."""


def test_prompt(model, prompt, evaluate):
    verdict = evaluate(model, prompt)
    assert verdict.passed, verdict.failure_message

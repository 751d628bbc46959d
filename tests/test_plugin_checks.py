"""Checks through the pytest plugin: a user's check in conftest.py is known before prompts.yaml
is validated, and prompts go only to the models whose task they target."""


MODELS = [
    {"name": "coder", "task": "code", "min_ram_gb": 100000, "notes": "", "family": "a"},
    {"name": "talker", "task": "chat", "min_ram_gb": 100000, "notes": "", "family": "b"},
]

USER_CHECK = '''
from bakeoff import Outcome, check


@check("shouts")
def shouts(answer: str, min_exclamations: int = 1) -> Outcome:
    count = answer.count("!")
    return Outcome(count >= min_exclamations, f"{count} exclamation marks, {min_exclamations} wanted")
'''

JUDGE_TEST = '''
from bakeoff.measure.client import Sample
from bakeoff.decide.evaluation import verdict_for


def test_judge(prompt):
    samples = [Sample(text, 0.1, 0.5, 3, 5, "server usage", 10.0, 0.1, 0.1, "stop") for text in ["Hi!!", "Hi."]]
    verdict = verdict_for(prompt, samples)
    assert [c["check"] for c in verdict.check_records] == ["shouts: {'min_exclamations': 2}", "contains: 'hi'"]
    assert verdict.check_records[0]["pass_rate"] == 0.5 and verdict.check_records[0]["pass_k"] is False
    assert verdict.sample_records[1].checks[0].model_dump(exclude_none=True) == {
        "check": "shouts: {'min_exclamations': 2}", "passed": False, "detail": "0 exclamation marks, 2 wanted"}
    assert not verdict.passed and "shouts" in verdict.failure_message and "answer: 'Hi.'" in verdict.failure_message
'''


def test_a_check_from_the_rootdir_conftest_is_known_before_validation(eval_project):
    pytester = eval_project(MODELS, "prompts:\n  - {id: p, text: hi, checks: [{shouts: {min_exclamations: 2}}, {contains: hi}]}\n", test=None, conftest=USER_CHECK)
    pytester.makepyfile(test_judging=JUDGE_TEST)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_a_check_from_the_conftest_of_the_evals_folder_is_known_too(eval_project):
    # `pytest evals` loads evals/conftest.py as an initial conftest, before the plugin validates.
    pytester = eval_project(MODELS, "prompts:\n  - {id: p, text: hi, checks: [{shouts: {min_exclamations: 2}}, {contains: hi}]}\n", test=None, conftest="")
    evals = pytester.mkdir("evals")
    (evals / "conftest.py").write_text(USER_CHECK)
    (evals / "test_judging.py").write_text(JUDGE_TEST)
    pytester.runpytest_subprocess("evals").assert_outcomes(passed=1)


def test_a_user_check_with_a_wrong_argument_stops_the_run_naming_prompt_and_field(eval_project):
    pytester = eval_project(MODELS, "prompts:\n  - {id: p, text: hi, checks: [{contains: hi}, {shouts: {min_exclamations: many}}]}\n", test=None, conftest=USER_CHECK)
    pytester.makepyfile(test_judging=JUDGE_TEST)
    result = pytester.runpytest_subprocess()
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: *prompts.yaml: prompt 0 (p): field 'checks.1': check 'shouts': argument 'min_exclamations': Input should be a valid integer"]
    )


def test_an_unknown_check_stops_the_run_before_any_model_starts(eval_project):
    test = "def test_prompt(model, prompt, evaluate):\n    raise AssertionError('ran')\n"
    pytester = eval_project(MODELS, "prompts:\n  - {id: p, text: hi, checks: [{shoutz: 1}]}\n", test=test, conftest="")
    result = pytester.runpytest_subprocess()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: *prompts.yaml: prompt 0 (p): field 'checks.0': unknown check 'shoutz'*"])
    assert "AssertionError" not in result.stdout.str()  # the test body never ran


def test_prompts_go_only_to_models_of_their_tasks(eval_project):
    pytester = eval_project(
        MODELS,
        "prompts:\n"
        "  - {id: for-all, text: hi, checks: [{contains: hi}]}\n"
        "  - {id: code-only, tasks: [code], text: hi, checks: [{contains: hi}]}\n"
        "  - {id: chat-or-reasoning, tasks: [chat, reasoning], text: hi, checks: [{contains: hi}]}\n",
        conftest=USER_CHECK,
    )
    result = pytester.runpytest_subprocess("--collect-only", "-q", "--bakeoff-launches", "1")
    assert result.ret == 0
    collected = sorted(line.split("[", 1)[1].rstrip("]") for line in result.outlines if "::test_prompt[" in line)
    assert collected == ["coder-code-only", "coder-for-all", "talker-chat-or-reasoning", "talker-for-all"]
    result.stdout.fnmatch_lines(["*4/6 tests collected (2 deselected)*"])

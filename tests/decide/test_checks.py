"""Each built-in check with a passing and a failing answer; a user's check registers the same way."""

import pytest

from bakeoff import Outcome, check
from bakeoff.decide import checks
from bakeoff.decide.checks import (
    CheckSpec,
    extract_code,
    extract_json,
    known_kinds,
    run_check,
    validate_spec,
)
from bakeoff.measure.client import Sample

SORT_CODE = "Here you go:\n```python\ndef sort_list(items):\n    return sorted(items)\n```\nIt uses sorted."
SORT_IN_PLACE = "```python\ndef sort_list(items):\n    items.sort()\n```"
SORT_CALLS = {"calls": [{"args": [[3, 1, 2]], "expect": [1, 2, 3]}, {"args": [[]], "expect": []}]}
CITY_SCHEMA = {
    "type": "object",
    "required": ["city", "population"],
    "properties": {"city": {"type": "string"}, "population": {"type": "integer", "minimum": 1}},
}

CASES = [
    ("equals", "42", " 42\n", "42."),
    ("contains", "edge", "Edge AI runs on devices", "Cloud AI"),
    ("contains_any", ["qubit", "superposition"], "uses superposition", "uses magic"),
    ("contains_all", ["pro", "con"], "Pros: x. Cons: y.", "Pros only"),
    ("not_contains", "sorry", "Here you go", "Sorry, I cannot"),
    ("starts_with", "hello", "  Hello there", "Well, hello"),
    ("regex", {"pattern": r"def \w+\("}, "def sort_list(x):", "lambda x: x"),
    ("max_words", 5, "one two three", "one two three four five six"),
    ("min_words", 3, "one two three", "one two"),
    ("max_sentences", 1, "Edge AI runs models locally.", "One. Two. Three."),
    ("valid_json", None, '```json\n{"a": [1, 2]}\n```', '{"a": [1, 2]'),
    ("json_schema", {"schema": CITY_SCHEMA}, '{"city": "Paris", "population": 2100000}', '{"city": "Paris", "population": "many"}'),
    ("python_function", SORT_CALLS, SORT_CODE, SORT_IN_PLACE),
]


@pytest.fixture
def scratch_registry(monkeypatch):
    """Checks registered by a test vanish after it, as if they came from that test's conftest."""
    monkeypatch.setattr(checks, "_registry", dict(checks._registry))


def sample(ttft_s=0.4, total_s=2.0, output_tokens=50) -> Sample:
    return Sample("answer", ttft_s, total_s, output_tokens, 10, "server usage", 25.0, 0.04, 0.05, "stop")


BUDGET_CASES = [
    ("max_ttft_s", 1.0, sample(ttft_s=0.4), sample(ttft_s=1.5), "first token after 1.50 s, budget 1 s"),
    ("max_total_s", 5, sample(total_s=4.9), sample(total_s=7.0), "answer took 7.00 s, budget 5 s"),
    ("max_output_tokens", 64, sample(output_tokens=64), sample(output_tokens=65), "65 output tokens, budget 64"),
]


@pytest.mark.parametrize("kind, argument, passing, failing", CASES, ids=[c[0] for c in CASES])
def test_check_passes_and_fails(kind, argument, passing, failing):
    spec = CheckSpec(kind, argument)
    validate_spec(spec)
    assert run_check(spec, passing).passed
    outcome = run_check(spec, failing)
    assert not outcome.passed and outcome.detail


@pytest.mark.parametrize("kind, limit, within, over, detail", BUDGET_CASES, ids=[c[0] for c in BUDGET_CASES])
def test_budget_passes_and_fails(kind, limit, within, over, detail):
    spec = CheckSpec(kind, limit)
    validate_spec(spec)
    assert run_check(spec, within.response, within).passed
    assert run_check(spec, over.response, over) == Outcome(False, detail)
    assert not run_check(spec, "text only").passed  # no measurements: cannot pass


def test_every_built_in_kind_is_tested_here():
    tested = {c[0] for c in CASES} | {c[0] for c in BUDGET_CASES} | {"judge"}  # graded by a model: tests/decide/test_judge.py
    assert tested == set(known_kinds())


def test_failure_details_say_why():
    assert run_check(CheckSpec("python_function", SORT_CALLS), SORT_IN_PLACE).detail == (
        "sort_list([3, 1, 2]) returned null, expected [1, 2, 3]"
    )
    outcome = run_check(CheckSpec("json_schema", {"schema": CITY_SCHEMA}), '{"city": "Paris", "population": "many"}')
    assert outcome.detail == "does not match the schema at population: 'many' is not of type 'integer'"
    assert run_check(CheckSpec("valid_json", None), "Sure! Here it is").detail.startswith("not JSON: Expecting value")


def test_json_comes_from_the_answer_or_its_first_parsable_fence():
    assert extract_json(' {"a": 1} ') == ({"a": 1}, None)
    assert extract_json("Here:\n```\nnot json\n```\n```json\n[1]\n```") == ([1], None)


def test_code_comes_from_the_python_fence_or_the_whole_answer():
    assert extract_code("```js\nx()\n```\n```python\ndef f(): pass\n```") == "def f(): pass\n"
    assert extract_code("```\ndef f(): pass\n```") == "def f(): pass\n"
    assert extract_code("def f(): pass") == "def f(): pass"
    # An answer cut off by max_tokens leaves the fence open: the code runs to the end.
    assert extract_code("```python\ndef f():\n    return 1") == "def f():\n    return 1"


def test_python_function_names_the_function_and_reports_exceptions():
    code = "```python\ndef helper(x):\n    return x\n\ndef add(a, b):\n    return a + b\n```"
    spec = CheckSpec("python_function", {"function": "add", "calls": [{"args": [2, 3], "expect": 5}, {"args": [1, None], "expect": 1}]})
    outcome = run_check(spec, code)
    assert not outcome.passed and outcome.detail.startswith("add(1, null) raised TypeError")
    missing = run_check(CheckSpec("python_function", {"function": "mul", "calls": [{"args": [], "expect": 1}]}), code)
    assert missing.detail == "code did not run: the code does not load: LookupError: the code defines no function 'mul'"


@pytest.mark.parametrize(
    "spec, message",
    [
        (CheckSpec("max_words", "ten"), "check 'max_words': argument 'limit': Input should be a valid integer"),
        (CheckSpec("max_ttft_s", "fast"), "check 'max_ttft_s': argument 'limit': Input should be a valid number"),
        (CheckSpec("contains_any", [1]), "check 'contains_any': argument 'values'"),
        (CheckSpec("contains", {"value": "x", "case_sensitive": "yes"}), "argument 'case_sensitive': Input should be a valid boolean"),
        (CheckSpec("json_schema", {"schema": {"type": "objekt"}}), "invalid JSON Schema: 'objekt' is not valid"),
        (CheckSpec("python_function", {"calls": [{"args": [1]}]}), "argument 'calls.0.expect': Field required"),
        (CheckSpec("python_function", {"calls": []}), "python_function needs at least one call"),
        (CheckSpec("python_function", {"function": "1x", "calls": [{"expect": 1}]}), "function '1x' is not a Python name"),
        (CheckSpec("valid_json", 3), "check 'valid_json': too many positional arguments"),
        (CheckSpec("sparkles", 1), "unknown check 'sparkles'"),
    ],
)
def test_bad_arguments_are_rejected_up_front(spec, message):
    with pytest.raises(ValueError) as error:
        validate_spec(spec)
    assert message in str(error.value)


def test_case_option():
    assert not run_check(CheckSpec("contains", {"value": "Edge", "case_sensitive": True}), "edge ai").passed


def test_user_check_registers_like_a_built_in(scratch_registry):
    @check("always_fails")
    def always_fails(answer: str, why: str) -> Outcome:
        return Outcome(False, why)

    spec = CheckSpec("always_fails", "on purpose")
    validate_spec(spec)
    assert "always_fails" in known_kinds()
    assert run_check(spec, "anything") == Outcome(False, "on purpose")
    # Its arguments are type-checked from its annotations, like a built-in's.
    with pytest.raises(ValueError, match="argument 'why': Input should be a valid string"):
        validate_spec(CheckSpec("always_fails", 3))


def test_a_check_that_raises_fails_with_the_reason(scratch_registry):
    @check("always_fails")
    def broken(answer: str, why: str) -> Outcome:
        raise RuntimeError("boom")

    outcome = run_check(CheckSpec("always_fails", "x"), "answer")
    assert not outcome.passed and "RuntimeError: boom" in outcome.detail


def test_bad_regex_flags_are_rejected_up_front():
    with pytest.raises(ValueError, match="unknown regex flags"):
        validate_spec(CheckSpec("regex", {"pattern": "x", "flags": "q"}))

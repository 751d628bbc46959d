"""Each built-in check with a passing and a failing answer; a user's check registers the same way."""

import pytest

from bakeoff.checks import CheckSpec, Outcome, check, known_kinds, run_check, validate_spec

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
]


@pytest.mark.parametrize("kind, argument, passing, failing", CASES, ids=[c[0] for c in CASES])
def test_check_passes_and_fails(kind, argument, passing, failing):
    spec = CheckSpec(kind, argument)
    validate_spec(spec)
    assert run_check(spec, passing).passed
    outcome = run_check(spec, failing)
    assert not outcome.passed and outcome.detail


def test_every_built_in_kind_is_tested_here():
    assert {c[0] for c in CASES} == set(known_kinds()) - {"always_fails"}


def test_case_option():
    assert not run_check(CheckSpec("contains", {"value": "Edge", "case_sensitive": True}), "edge ai").passed


def test_user_check_registers_like_a_built_in():
    @check("always_fails")
    def always_fails(answer: str, why: str) -> Outcome:
        return Outcome(False, why)

    spec = CheckSpec("always_fails", "on purpose")
    validate_spec(spec)
    assert run_check(spec, "anything") == Outcome(False, "on purpose")


def test_a_check_that_raises_fails_with_the_reason():
    @check("always_fails")
    def broken(answer: str, why: str) -> Outcome:
        raise RuntimeError("boom")

    outcome = run_check(CheckSpec("always_fails", "x"), "answer")
    assert not outcome.passed and "RuntimeError: boom" in outcome.detail


def test_bad_regex_flags_are_rejected_up_front():
    with pytest.raises(ValueError, match="unknown regex flags"):
        validate_spec(CheckSpec("regex", {"pattern": "x", "flags": "q"}))

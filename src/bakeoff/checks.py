"""Answer checks: small functions that decide whether a response is acceptable.

A check is registered with `@check("kind")` and receives the answer text first, then the
arguments written in prompts.yaml. A check written in a user's conftest.py uses the same
decorator and is indistinguishable from a built-in one in runs and reports.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Callable

from .errors import BakeoffError


@dataclass(frozen=True)
class Outcome:
    passed: bool
    detail: str


@dataclass(frozen=True)
class CheckSpec:
    """One check as written in prompts.yaml: `{kind: argument}`."""

    kind: str
    argument: object

    @property
    def label(self) -> str:
        return f"{self.kind}: {self.argument!r}"


CheckFn = Callable[..., Outcome]
_registry: dict[str, CheckFn] = {}


def check(kind: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        _registry[kind] = fn
        return fn

    return register


def known_kinds() -> list[str]:
    return sorted(_registry)


def _call_args(spec: CheckSpec) -> tuple[tuple, dict]:
    if isinstance(spec.argument, dict):
        return (), spec.argument
    return (spec.argument,), {}


def validate_spec(spec: CheckSpec) -> None:
    """Raise ValueError describing why a check as written cannot run."""
    fn = _registry.get(spec.kind)
    if fn is None:
        raise ValueError(f"unknown check {spec.kind!r} (known: {', '.join(known_kinds())})")
    args, kwargs = _call_args(spec)
    try:
        inspect.signature(fn).bind("", *args, **kwargs)
    except TypeError as exc:
        raise ValueError(f"check {spec.kind!r}: {exc}") from None
    validator = getattr(fn, "validate", None)
    if validator:
        validator(*args, **kwargs)


def run_check(spec: CheckSpec, answer: str) -> Outcome:
    args, kwargs = _call_args(spec)
    try:
        return _registry[spec.kind](answer, *args, **kwargs)
    except Exception as exc:  # a broken user check fails that check, not the run
        return Outcome(False, f"check raised {type(exc).__name__}: {exc}")


def shorten(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _fold(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.lower()


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@check("equals")
def equals(answer: str, value: str, case_sensitive: bool = True) -> Outcome:
    ok = _fold(answer.strip(), case_sensitive) == _fold(str(value).strip(), case_sensitive)
    return Outcome(ok, f"expected exactly {value!r}")


@check("contains")
def contains(answer: str, value: str, case_sensitive: bool = False) -> Outcome:
    ok = _fold(value, case_sensitive) in _fold(answer, case_sensitive)
    return Outcome(ok, f"expected to contain {value!r}")


@check("contains_any")
def contains_any(answer: str, values: list[str], case_sensitive: bool = False) -> Outcome:
    folded = _fold(answer, case_sensitive)
    found = [v for v in _as_list(values) if _fold(v, case_sensitive) in folded]
    return Outcome(bool(found), f"expected any of {_as_list(values)!r}")


@check("contains_all")
def contains_all(answer: str, values: list[str], case_sensitive: bool = False) -> Outcome:
    folded = _fold(answer, case_sensitive)
    missing = [v for v in _as_list(values) if _fold(v, case_sensitive) not in folded]
    return Outcome(not missing, f"missing {missing!r}" if missing else "all present")


@check("not_contains")
def not_contains(answer: str, value: str | list[str], case_sensitive: bool = False) -> Outcome:
    folded = _fold(answer, case_sensitive)
    present = [v for v in _as_list(value) if _fold(v, case_sensitive) in folded]
    return Outcome(not present, f"must not contain {present!r}" if present else "none present")


@check("starts_with")
def starts_with(answer: str, value: str, case_sensitive: bool = False) -> Outcome:
    ok = _fold(answer.lstrip(), case_sensitive).startswith(_fold(value, case_sensitive))
    return Outcome(ok, f"expected to start with {value!r}")


@check("regex")
def regex(answer: str, pattern: str, flags: str = "") -> Outcome:
    compiled = re.compile(pattern, _regex_flags(flags))
    return Outcome(compiled.search(answer) is not None, f"expected a match for /{pattern}/{flags}")


def _regex_flags(flags: str) -> int:
    table = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
    unknown = set(flags) - set(table)
    if unknown:
        raise ValueError(f"unknown regex flags {''.join(sorted(unknown))!r} (use i, m, s)")
    value = 0
    for letter in flags:
        value |= table[letter]
    return value


def _validate_regex(pattern: str, flags: str = "") -> None:
    try:
        re.compile(pattern, _regex_flags(flags))
    except re.error as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None


regex.validate = _validate_regex


@check("max_words")
def max_words(answer: str, limit: int) -> Outcome:
    count = len(answer.split())
    return Outcome(count <= limit, f"{count} words, limit {limit}")


_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


@check("max_sentences")
def max_sentences(answer: str, limit: int) -> Outcome:
    count = len(_SENTENCE_END.findall(answer.strip())) or (1 if answer.strip() else 0)
    return Outcome(count <= limit, f"{count} sentences, limit {limit}")


@check("min_words")
def min_words(answer: str, limit: int) -> Outcome:
    count = len(answer.split())
    return Outcome(count >= limit, f"{count} words, at least {limit} wanted")

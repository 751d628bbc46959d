"""Answer checks: small functions that decide whether a response is acceptable.

A check is registered with `@check("kind")` and receives the answer text first, then the
arguments written in prompts.yaml (`kind: value` passes one positional argument, `kind: {..}`
passes keyword arguments, `kind:` or `kind: {}` none). A check that needs the request's
measurements (time to first token, tokens) registers with `takes="sample"` and receives the
`Sample` instead. Arguments are checked against the function's type annotations when
prompts.yaml loads, so a wrong type stops the run before any model starts (`validate_prompts`,
for the prompts of any source; `load_prompts` reads a prompts.yaml file whole). A check written in
a user's conftest.py uses the same decorator and is indistinguishable from a built-in one.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired

import jsonschema
import pydantic
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from bakeoff.decide import sandbox
from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import CheckSpec, Prompt
from bakeoff.inputs.prompts_yaml import PromptsYaml
from bakeoff.measure.client import Sample


@dataclass(frozen=True)
class Outcome:
    passed: bool
    detail: str
    sandbox_missing: tuple[str, ...] = ()  # protections the code sandbox lacked on this machine


CheckFn = Callable[..., Outcome]


@dataclass(frozen=True)
class Registered:
    fn: CheckFn
    takes: Literal["text", "sample"]
    validate: Callable[..., None] | None


_registry: dict[str, Registered] = {}


def check(
    kind: str, *, takes: Literal["text", "sample"] = "text", validate: Callable[..., None] | None = None
) -> Callable[[CheckFn], CheckFn]:
    """Register `fn(answer, *args, **kwargs) -> Outcome` as the check `kind`.

    `takes="sample"` passes the measured `bakeoff.measure.client.Sample` instead of the text;
    `validate(*args, **kwargs)` may raise ValueError to reject arguments when prompts.yaml loads.
    """
    if takes not in ("text", "sample"):
        raise ValueError(f"takes must be 'text' or 'sample', not {takes!r}")

    def register(fn: CheckFn) -> CheckFn:
        _registry[kind] = Registered(fn, takes, validate)
        return fn

    return register


def known_kinds() -> list[str]:
    return sorted(_registry)


def _call_args(spec: CheckSpec) -> tuple[tuple, dict]:
    if spec.argument is None:
        return (), {}
    if isinstance(spec.argument, dict):
        return (), spec.argument
    return (spec.argument,), {}


def validate_spec(spec: CheckSpec) -> None:
    """Raise ValueError describing why a check as written cannot run."""
    registered = _registry.get(spec.kind)
    if registered is None:
        raise ValueError(
            f"unknown check {spec.kind!r} (known: {', '.join(known_kinds())}; "
            "a check of your own belongs in the rootdir's conftest.py)"
        )
    args, kwargs = _call_args(spec)
    try:
        bound = inspect.signature(registered.fn).bind(None, *args, **kwargs)
    except TypeError as exc:
        raise ValueError(f"check {spec.kind!r}: {exc}") from None
    arguments = dict(list(bound.arguments.items())[1:])
    try:
        _argument_model(registered.fn).model_validate(arguments)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        raise ValueError(f"check {spec.kind!r}: argument {_where(error['loc'])!r}: {error['msg']}") from None
    if registered.validate:
        registered.validate(*args, **kwargs)


def load_prompts(path: Path) -> list[Prompt]:
    """The prompts of a prompts.yaml file, whole: as the file says and each check as its kind needs."""
    prompts = PromptsYaml(path).items()
    validate_prompts(prompts)
    return prompts


def validate_prompts(prompts: list[Prompt]) -> None:
    """BakeoffError naming the prompt and the field of the first check that cannot run as written
    (an unknown kind, a wrong argument), whichever source the prompts came from."""
    for prompt in prompts:
        for index, spec in enumerate(prompt.checks):
            try:
                validate_spec(spec)
            except ValueError as exc:
                raise BakeoffError(f"{prompt.origin}: field 'checks.{index}': {exc}") from None


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "any"}


def _where(loc: tuple) -> str:
    """pydantic's error location without the union branch names it adds (`limit.int` -> `limit`)."""
    parts = [
        str(p)
        for p in loc
        if not (isinstance(p, str) and (p.lower() in _TYPE_TAGS or "[" in p or p.startswith("constrained-")))
    ]
    return ".".join(parts)


@cache
def _argument_model(fn: CheckFn) -> type[pydantic.BaseModel]:
    """A strict model of the check's parameters after the answer, from its annotations."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)  # extras: the constraints of Annotated
    except Exception:  # unresolvable annotations in a user's check: accept any value
        hints = {}
    config = pydantic.ConfigDict(strict=True, arbitrary_types_allowed=True)

    def model(typed: bool) -> type[pydantic.BaseModel]:
        fields: dict[str, Any] = {}  # pydantic's field definitions: (annotation, default)
        for parameter in list(inspect.signature(fn).parameters.values())[1:]:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            default = ... if parameter.default is parameter.empty else parameter.default
            hint = hints.get(parameter.name, Any) if typed else Any
            # Aliased, so a parameter may be called anything (`schema` would shadow a BaseModel attribute).
            fields[f"arg_{parameter.name}"] = (typing.Annotated[hint, pydantic.Field(alias=parameter.name)], default)
        return pydantic.create_model(f"{fn.__name__}_arguments", __config__=config, **fields)

    try:
        return model(typed=True)
    except Exception:  # an annotation pydantic cannot check: still check names and required arguments
        return model(typed=False)


def run_check(spec: CheckSpec, answer: str, sample: Sample | None = None) -> Outcome:
    registered = _registry[spec.kind]
    args, kwargs = _call_args(spec)
    if registered.takes == "sample":
        if sample is None:
            return Outcome(False, "no measurements for this answer")
        subject: str | Sample = sample
    else:
        subject = answer
    try:
        return registered.fn(subject, *args, **kwargs)
    except Exception as exc:  # a broken user check fails that check, not the run
        return Outcome(False, f"check raised {type(exc).__name__}: {exc}")


# --- Text -------------------------------------------------------------------------------------


def _fold(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.lower()


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# Argument types that say more than int or str: prompts.yaml's arguments are checked against them
# when it is loaded (an empty `contains_any: []` would pass every answer, a negative limit never fail).
Text = Annotated[str, pydantic.Field(min_length=1)]
Texts = Text | Annotated[list[Text], pydantic.Field(min_length=1)]
Limit = Annotated[int, pydantic.Field(ge=0)]
Seconds = Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)]
Megabytes = Annotated[int, pydantic.Field(gt=0)]


@check("equals")
def equals(answer: str, value: str | int | float, case_sensitive: bool = True) -> Outcome:
    ok = _fold(answer.strip(), case_sensitive) == _fold(str(value).strip(), case_sensitive)
    return Outcome(ok, f"expected exactly {str(value)!r}")


@check("contains")
def contains(answer: str, value: Text, case_sensitive: bool = False) -> Outcome:
    ok = _fold(value, case_sensitive) in _fold(answer, case_sensitive)
    return Outcome(ok, f"expected to contain {value!r}")


@check("contains_any")
def contains_any(answer: str, values: Texts, case_sensitive: bool = False) -> Outcome:
    folded = _fold(answer, case_sensitive)
    found = [v for v in _as_list(values) if _fold(v, case_sensitive) in folded]
    return Outcome(bool(found), f"expected any of {_as_list(values)!r}")


@check("contains_all")
def contains_all(answer: str, values: Texts, case_sensitive: bool = False) -> Outcome:
    folded = _fold(answer, case_sensitive)
    missing = [v for v in _as_list(values) if _fold(v, case_sensitive) not in folded]
    return Outcome(not missing, f"missing {missing!r}" if missing else "all present")


@check("not_contains")
def not_contains(answer: str, value: Texts, case_sensitive: bool = False) -> Outcome:
    folded = _fold(answer, case_sensitive)
    present = [v for v in _as_list(value) if _fold(v, case_sensitive) in folded]
    return Outcome(not present, f"must not contain {present!r}" if present else "none present")


@check("starts_with")
def starts_with(answer: str, value: Text, case_sensitive: bool = False) -> Outcome:
    ok = _fold(answer.lstrip(), case_sensitive).startswith(_fold(value, case_sensitive))
    return Outcome(ok, f"expected to start with {value!r}")


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


@check("regex", validate=_validate_regex)
def regex(answer: str, pattern: str, flags: str = "") -> Outcome:
    compiled = re.compile(pattern, _regex_flags(flags))
    return Outcome(compiled.search(answer) is not None, f"expected a match for /{pattern}/{flags}")


@check("max_words")
def max_words(answer: str, limit: Limit) -> Outcome:
    count = len(answer.split())
    return Outcome(count <= limit, f"{count} words, limit {limit}")


@check("min_words")
def min_words(answer: str, limit: Limit) -> Outcome:
    count = len(answer.split())
    return Outcome(count >= limit, f"{count} words, at least {limit} wanted")


_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


@check("max_sentences")
def max_sentences(answer: str, limit: Limit) -> Outcome:
    count = len(_SENTENCE_END.findall(answer.strip())) or (1 if answer.strip() else 0)
    return Outcome(count <= limit, f"{count} sentences, limit {limit}")


# --- Structure --------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def fenced_blocks(answer: str) -> list[tuple[str, str]]:
    """(language, body) of each ``` block; an unclosed last block (a cut-off answer) runs to the end."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(answer)]


def extract_json(answer: str) -> tuple[Any, str | None]:
    """The answer as JSON, or the first fenced block that parses; (value, None) or (None, why)."""
    candidates = [answer.strip()] + [body.strip() for _, body in fenced_blocks(answer)]
    first_error = None
    for text in candidates:
        try:
            return json.loads(text), None
        except json.JSONDecodeError as exc:
            first_error = first_error or f"not JSON: {exc}"
    return None, first_error


@check("valid_json")
def valid_json(answer: str) -> Outcome:
    value, error = extract_json(answer)
    if error:
        return Outcome(False, error)
    return Outcome(True, f"JSON {type(value).__name__}")


def _validate_schema(schema: dict) -> None:
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid JSON Schema: {exc.message}") from None


@check("json_schema", validate=_validate_schema)
def json_schema(answer: str, schema: dict) -> Outcome:
    value, error = extract_json(answer)
    if error:
        return Outcome(False, error)
    validator = jsonschema.validators.validator_for(schema)(schema)
    problem = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if problem is None:
        return Outcome(True, "matches the schema")
    where = "/".join(str(p) for p in problem.absolute_path) or "(top level)"
    return Outcome(False, f"does not match the schema at {where}: {problem.message}")


# --- Code -------------------------------------------------------------------------------------


class Call(TypedDict):
    args: NotRequired[list]
    kwargs: NotRequired[dict[str, Any]]
    expect: Any


def extract_code(answer: str, language: str = "python") -> str:
    """The first fenced block in `language` (or untagged), else the whole answer."""
    blocks = fenced_blocks(answer)
    aliases = {"python": {"python", "py", "python3"}}.get(language, {language})
    for wanted in (aliases, {""}):
        for tag, body in blocks:
            if tag in wanted:
                return body
    return answer


def _validate_python_function(calls: list[Call], function: str | None = None, **limits) -> None:
    if not calls:
        raise ValueError("python_function needs at least one call")
    if function is not None and not function.isidentifier():
        raise ValueError(f"function {function!r} is not a Python name")


@check("python_function", validate=_validate_python_function)
def python_function(
    answer: str, calls: list[Call], function: str | None = None, timeout_s: Seconds = 10.0, memory_mb: Megabytes = 512
) -> Outcome:
    """Run the answer's code in the sandbox, call the function per `calls`, compare with `expect`."""
    code = extract_code(answer)
    limits = sandbox.Limits(wall_s=timeout_s, cpu_s=max(1, int(timeout_s)), memory_bytes=memory_mb * 1024**2)
    result = sandbox.run_function(
        code, function, [{k: v for k, v in c.items() if k != "expect"} for c in calls], limits
    )
    outcome = _compare_calls(calls, result)
    if not result.missing:
        return outcome
    missing = ", ".join(result.missing)
    warnings.warn(
        f"bakeoff: model-written code ran in a weaker sandbox, without {missing}", SandboxWeakened, stacklevel=2
    )
    return Outcome(outcome.passed, f"{outcome.detail} [SANDBOX WEAKER, without {missing}]", tuple(result.missing))


class SandboxWeakened(UserWarning):
    """The code sandbox ran without some of its protections (shown in pytest's warnings summary)."""


def _compare_calls(calls: list[Call], result: sandbox.RunResult) -> Outcome:
    if result.error:
        return Outcome(False, f"code did not run: {result.error}")
    for call, got in zip(calls, result.calls, strict=False):
        shown = f"{result.function}({', '.join(json.dumps(a) for a in call.get('args', []))})"
        if not got.ok:
            return Outcome(False, f"{shown} raised {got.error}")
        if got.value != call["expect"]:
            return Outcome(False, f"{shown} returned {json.dumps(got.value)}, expected {json.dumps(call['expect'])}")
    return Outcome(True, f"{len(calls)} call(s) returned what was expected")


# --- Budgets (per request, from the measurements) ---------------------------------------------


@check("max_ttft_s", takes="sample")
def max_ttft_s(sample: Sample, limit: float) -> Outcome:
    return Outcome(sample.ttft_s <= limit, f"first token after {sample.ttft_s:.2f} s, budget {limit:g} s")


@check("max_total_s", takes="sample")
def max_total_s(sample: Sample, limit: float) -> Outcome:
    return Outcome(sample.total_s <= limit, f"answer took {sample.total_s:.2f} s, budget {limit:g} s")


@check("max_output_tokens", takes="sample")
def max_output_tokens(sample: Sample, limit: Limit) -> Outcome:
    return Outcome(sample.output_tokens <= limit, f"{sample.output_tokens} output tokens, budget {limit}")

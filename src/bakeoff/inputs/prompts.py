"""What a prompt is, whatever its source: the `Prompt` a run asks, the checks as written
(`CheckSpec`), and `build_prompts`, which turns written prompts (prompts.yaml's item shape) into
Prompts: ids unique, the question split from earlier turns, defaults applied, the judge model found.

A source (`bakeoff.inputs.sources`) reads and parses; whether each check's arguments suit its
kind is decided by the check registry (`bakeoff.decide.checks.validate_prompts`), which is fed
every source's prompts alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bakeoff.console import shorten
from bakeoff.errors import BakeoffError

BUILT_IN_DEFAULTS = {"repeats": 3, "max_tokens": 128, "temperature": 0.0, "min_pass_rate": 1.0}
# The check a judge model grades after the run (bakeoff.decide.judge registers it); it may name its model.
JUDGE_KIND = "judge"


@dataclass(frozen=True)
class CheckSpec:
    """One check as written in prompts.yaml: `{kind: argument}`."""

    kind: str
    argument: object

    @property
    def label(self) -> str:
        if self.argument is None or self.argument == {}:
            return self.kind
        return f"{self.kind}: {shorten(repr(self.argument), 120)}"


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str  # the last user turn: what the answer responds to
    system: str | None
    checks: tuple[CheckSpec, ...]
    repeats: int
    max_tokens: int
    temperature: float
    min_pass_rate: float
    turns: tuple[dict, ...] = ()  # earlier turns, `{role, content}`, before `text`
    tasks: tuple[str, ...] = ()  # model tasks this prompt is for; empty: every model
    response_format: Literal["json_object", "json_schema"] | None = None  # ask for structured output
    judge: str | None = None  # the judge model (NAME or NAME@RUNTIME) of its `judge` check; None: no judge check
    origin: str = field(default="", compare=False)  # where it was written, for messages: "prompts.yaml: prompt 0 (id)"

    @property
    def judge_check(self) -> CheckSpec | None:
        return next((spec for spec in self.checks if spec.kind == JUDGE_KIND), None)

    @property
    def rule_checks(self) -> tuple[CheckSpec, ...]:
        """The checks run as each answer arrives; a judge check is graded after the run."""
        return tuple(spec for spec in self.checks if spec.kind != JUDGE_KIND)

    @property
    def messages(self) -> list[dict]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, *self.turns, {"role": "user", "content": self.text}]

    @property
    def request_options(self) -> dict:
        options: dict[str, object] = {"max_tokens": self.max_tokens, "temperature": self.temperature}
        if self.response_format:
            options["response_format"] = response_format(self.response_format, self.schema)
        return options

    @property
    def schema(self) -> dict | None:
        """The JSON Schema of the prompt's json_schema check, which structured output asks for."""
        return next(
            (
                spec.argument["schema"]
                for spec in self.checks
                if spec.kind == "json_schema" and isinstance(spec.argument, dict)
            ),
            None,
        )

    def fits(self, task: str) -> bool:
        return not self.tasks or task in self.tasks


@dataclass(frozen=True)
class SourceIdentity:
    """Which prompts a run asked, as its report records it: the kind of source, which one (a file's
    path, a dataset's name) and a digest of what it held. Two runs asked the same prompts when kind
    and digest agree; the name is for people (one file has other paths on other machines)."""

    kind: str
    name: str
    sha256: str | None  # None: the source could not be read (then there is no run to report anyway)


def response_format(kind: str, schema: dict | None) -> dict:
    if kind == "json_object":
        return {"type": "json_object"}
    # OpenAI-style servers read the schema from `json_schema.schema`; Foundry Local (2.2.1)
    # reads `json_schema` itself as the schema and ignores the other keys. Sending both
    # shapes in one object constrains the answer on either kind of server.
    if schema is None:  # the loader refuses this format without a json_schema check
        raise ValueError("response_format json_schema without a json_schema check")
    return {"type": "json_schema", "json_schema": {**schema, "name": "answer", "schema": schema}}


def build_prompts(written: list[dict], defaults: dict, where: str) -> list[Prompt]:
    """Prompts from items of prompts.yaml's shape (already checked against its schema), `defaults`
    filling what an item leaves out; `where` (a file, a dataset) starts every error's line."""
    defaults = {**BUILT_IN_DEFAULTS, **defaults}
    prompts, seen = [], set()
    for index, item in enumerate(written):
        origin = f"{where}: {prompt_label(written, index)}"
        if item["id"] in seen:
            raise BakeoffError(f"{origin}: field 'id': duplicate prompt id")
        seen.add(item["id"])
        prompts.append(_prompt(item, defaults, origin))
    return prompts


def _prompt(item: dict, defaults: dict, origin: str) -> Prompt:
    checks = tuple(_check(written) for written in item["checks"])
    turns, text = _question(item, origin)
    if item.get("response_format") == "json_schema" and not any(spec.kind == "json_schema" for spec in checks):
        raise BakeoffError(
            f"{origin}: field 'response_format': json_schema needs a json_schema check to take the schema from"
        )
    return Prompt(
        id=item["id"],
        text=text,
        system=item.get("system"),
        checks=checks,
        turns=turns,
        tasks=tuple(item.get("tasks", ())),
        response_format=item.get("response_format"),
        judge=_judge_model(checks, defaults, origin),
        origin=origin,
        **{key: item.get(key, defaults[key]) for key in BUILT_IN_DEFAULTS},
    )


def _check(written: dict) -> CheckSpec:
    ((kind, argument),) = written.items()  # the schema allows one kind per check
    return CheckSpec(kind, argument)


def _question(item: dict, origin: str) -> tuple[tuple[dict, ...], str]:
    """The earlier turns and the question: `text`, or else the last turn of `messages`."""
    turns = list(item.get("messages", []))
    if "text" in item:
        return tuple(turns), item["text"]
    if turns[-1]["role"] != "user":
        raise BakeoffError(f"{origin}: field 'messages.{len(turns) - 1}': the last turn must be the user's")
    return tuple(turns[:-1]), turns[-1]["content"]


def _judge_model(checks: tuple[CheckSpec, ...], defaults: dict, origin: str) -> str | None:
    """The model that grades the prompt's judge check: its own `model:`, else `defaults: judge`."""
    judges = [index for index, spec in enumerate(checks) if spec.kind == JUDGE_KIND]
    if not judges:
        return None
    if len(judges) > 1:
        raise BakeoffError(f"{origin}: field 'checks.{judges[1]}': one judge check per prompt")
    argument = checks[judges[0]].argument
    model = (argument.get("model") if isinstance(argument, dict) else None) or defaults.get("judge")
    if model is None:
        raise BakeoffError(f"{origin}: field 'checks.{judges[0]}': no judge model: give `model:` or `defaults: judge:`")
    return model


def prompt_label(items: list, index) -> str:
    """How an error names a written prompt: its index, and its id where it has one."""
    item = items[index] if isinstance(index, int) and index < len(items) else None
    prompt_id = item.get("id") if isinstance(item, dict) else None
    return f"prompt {index}" + (f" ({prompt_id})" if isinstance(prompt_id, str) else "")

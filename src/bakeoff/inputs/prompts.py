"""The fixed prompts, prompts.yaml: loading and validation, including every check's arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bakeoff.decide import judge as judge_check  # registers the `judge` check kind
from bakeoff.decide.checks import CheckSpec, validate_spec
from bakeoff.errors import BakeoffError
from bakeoff.inputs.validation import read_document, validate

BUILT_IN_DEFAULTS = {"repeats": 3, "max_tokens": 128, "temperature": 0.0, "min_pass_rate": 1.0}


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
    response_format: str | None = None  # "json_object" or "json_schema": ask for structured output
    judge: str | None = None  # the judge model (NAME or NAME@RUNTIME) of its `judge` check; None: no judge check

    @property
    def judge_check(self) -> CheckSpec | None:
        return next((spec for spec in self.checks if judge_check.is_judge(spec)), None)

    @property
    def rule_checks(self) -> tuple[CheckSpec, ...]:
        """The checks run as each answer arrives; a judge check is graded after the run."""
        return tuple(spec for spec in self.checks if not judge_check.is_judge(spec))

    @property
    def messages(self) -> list[dict]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, *self.turns, {"role": "user", "content": self.text}]

    @property
    def request_options(self) -> dict:
        options = {"max_tokens": self.max_tokens, "temperature": self.temperature}
        if self.response_format:
            options["response_format"] = response_format(self.response_format, self.schema)
        return options

    @property
    def schema(self) -> dict | None:
        """The JSON Schema of the prompt's json_schema check, which structured output asks for."""
        return next((spec.argument["schema"] for spec in self.checks if spec.kind == "json_schema"), None)

    def fits(self, task: str) -> bool:
        return not self.tasks or task in self.tasks


def response_format(kind: str, schema: dict | None) -> dict:
    if kind == "json_object":
        return {"type": "json_object"}
    # OpenAI-style servers read the schema from `json_schema.schema`; Foundry Local (2.2.1)
    # reads `json_schema` itself as the schema and ignores the other keys. Sending both
    # shapes in one object constrains the answer on either kind of server.
    return {"type": "json_schema", "json_schema": {**schema, "name": "answer", "schema": schema}}


def load_prompts(path: Path) -> list[Prompt]:
    path = Path(path)
    raw = read_document(path, "YAML")

    def locate(bad_path):
        if len(bad_path) >= 2 and bad_path[0] == "prompts":
            return _prompt_label(raw["prompts"], bad_path[1]), bad_path[2:]
        if bad_path:
            return str(bad_path[0]), bad_path[1:]
        return "top level", []

    validate(raw, "prompts.schema.json", where=str(path), locate=locate)

    defaults = {**BUILT_IN_DEFAULTS, **raw.get("defaults", {})}
    prompts, seen = [], set()
    for index, item in enumerate(raw["prompts"]):
        where = f"{path}: {_prompt_label(raw['prompts'], index)}"
        if item["id"] in seen:
            raise BakeoffError(f"{where}: field 'id': duplicate prompt id")
        seen.add(item["id"])
        specs = []
        for check_index, written in enumerate(item["checks"]):
            ((kind, argument),) = written.items()
            spec = CheckSpec(kind, argument)
            try:
                validate_spec(spec)
            except ValueError as exc:
                raise BakeoffError(f"{where}: field 'checks.{check_index}': {exc}") from None
            specs.append(spec)
        turns = list(item.get("messages", []))
        text = item.get("text")
        if text is None:  # the last turn of `messages` is the question
            if turns[-1]["role"] != "user":
                raise BakeoffError(f"{where}: field 'messages.{len(turns) - 1}': the last turn must be the user's")
            text = turns.pop()["content"]
        wanted = item.get("response_format")
        if wanted == "json_schema" and not any(spec.kind == "json_schema" for spec in specs):
            raise BakeoffError(f"{where}: field 'response_format': json_schema needs a json_schema check to take the schema from")
        judges = [(i, spec) for i, spec in enumerate(specs) if judge_check.is_judge(spec)]
        if len(judges) > 1:
            raise BakeoffError(f"{where}: field 'checks.{judges[1][0]}': one judge check per prompt")
        judge_model = None
        if judges:
            judge_model = judge_check.Rubric.of(judges[0][1]).model or defaults.get("judge")
            if judge_model is None:
                raise BakeoffError(f"{where}: field 'checks.{judges[0][0]}': no judge model: give `model:` or `defaults: judge:`")
        settings = {key: item.get(key, defaults[key]) for key in BUILT_IN_DEFAULTS}
        prompts.append(
            Prompt(
                id=item["id"],
                text=text,
                system=item.get("system"),
                checks=tuple(specs),
                turns=tuple(turns),
                tasks=tuple(item.get("tasks", ())),
                response_format=wanted,
                judge=judge_model,
                **settings,
            )
        )
    return prompts


def _prompt_label(items: list, index) -> str:
    item = items[index] if isinstance(index, int) and index < len(items) else None
    prompt_id = item.get("id") if isinstance(item, dict) else None
    return f"prompt {index}" + (f" ({prompt_id})" if isinstance(prompt_id, str) else "")

"""The fixed prompts, prompts.yaml: loading and validation, including every check's arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ._validation import validate
from .checks import CheckSpec, validate_spec
from .errors import BakeoffError

BUILT_IN_DEFAULTS = {"repeats": 3, "max_tokens": 128, "temperature": 0.0, "min_pass_rate": 1.0}


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    system: str | None
    checks: tuple[CheckSpec, ...]
    repeats: int
    max_tokens: int
    temperature: float
    min_pass_rate: float

    @property
    def messages(self) -> list[dict]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": self.text}]

    @property
    def request_options(self) -> dict:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature}


def load_prompts(path: Path) -> list[Prompt]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BakeoffError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise BakeoffError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None

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
        settings = {key: item.get(key, defaults[key]) for key in BUILT_IN_DEFAULTS}
        prompts.append(Prompt(id=item["id"], text=item["text"], system=item.get("system"), checks=tuple(specs), **settings))
    return prompts


def _prompt_label(items: list, index) -> str:
    item = items[index] if isinstance(index, int) and index < len(items) else None
    prompt_id = item.get("id") if isinstance(item, dict) else None
    return f"prompt {index}" + (f" ({prompt_id})" if isinstance(prompt_id, str) else "")

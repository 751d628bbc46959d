"""Prompt sources: where a run's prompts come from, behind one small interface (`PromptSource`).

A source gives its prompts (`items`), the settings a prompt gets unless it sets its own
(`defaults`: repeats, max_tokens, temperature, min_pass_rate, judge), and its identity for the
report (`identity`: kind, name, digest; `bakeoff merge` joins reports only of the same prompts).
prompts.yaml is the built-in source (`bakeoff.inputs.prompts_yaml`). Another is one module
holding a factory that takes the location given by `--bakeoff-prompts` (a path; the rootdir's
prompts.yaml when none is given) and returns a source, named as MODULE:FACTORY:

    pytest evals --bakeoff-prompt-source my_dataset:source --bakeoff-prompts data/questions.jsonl

A source builds its Prompts with `bakeoff.inputs.prompts.build_prompts` (items of prompts.yaml's
shape) or directly; either way the run checks every check's arguments before any model starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from bakeoff.errors import BakeoffError
from bakeoff.inputs.prompts import Prompt, SourceIdentity
from bakeoff.inputs.prompts_yaml import PromptsYaml


@runtime_checkable
class PromptSource(Protocol):
    def identity(self) -> SourceIdentity:
        """What the report records: the same kind and digest mean the same prompts."""
        ...

    def defaults(self) -> dict:
        """The settings its prompts get unless they set their own."""
        ...

    def items(self) -> list[Prompt]:
        """The prompts, in order; BakeoffError with one line naming the source, prompt and field."""
        ...


def prompt_source(factory: str | None, location: Path) -> PromptSource:
    """The source a run reads: prompts.yaml at `location`, or what the MODULE:FACTORY `factory` makes of it."""
    if factory is None:
        return PromptsYaml(location)
    source = _imported(factory)(Path(location))
    if not isinstance(source, PromptSource):
        made = type(source).__name__
        raise BakeoffError(f"prompt source {factory!r}: made a {made}, which lacks identity(), defaults() or items()")
    return source


def _imported(factory: str) -> Callable[[Path], object]:
    module_name, _, name = factory.partition(":")
    if not module_name or not name:
        raise BakeoffError(
            f"prompt source {factory!r}: name it MODULE:FACTORY (a function taking the --bakeoff-prompts location)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BakeoffError(f"prompt source {factory!r}: cannot import {module_name}: {exc}") from None
    made = getattr(module, name, None)
    if not callable(made):
        raise BakeoffError(f"prompt source {factory!r}: {module_name} has no function {name}")
    return made

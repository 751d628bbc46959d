"""prompts.yaml, the built-in prompt source: the file is parsed, checked against
prompts.schema.json, and its items made Prompts with the file's `defaults:`."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bakeoff.inputs.prompts import BUILT_IN_DEFAULTS, Prompt, SourceIdentity, build_prompts, prompt_label
from bakeoff.inputs.validation import read_document, validate

KIND = "prompts-yaml"


class PromptsYaml:
    """A prompts.yaml file as a `bakeoff.inputs.sources.PromptSource`."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def identity(self) -> SourceIdentity:
        try:
            digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            digest = None
        return SourceIdentity(KIND, str(self.path), digest)

    def defaults(self) -> dict:
        return _defaults(self._document())

    def items(self) -> list[Prompt]:
        document = self._document()
        return build_prompts(document["prompts"], _defaults(document), where=str(self.path))

    def _document(self) -> dict:
        raw = read_document(self.path, "YAML")

        def locate(bad_path):
            if len(bad_path) >= 2 and bad_path[0] == "prompts":
                return prompt_label(raw["prompts"], bad_path[1]), bad_path[2:]
            if bad_path:
                return str(bad_path[0]), bad_path[1:]
            return "top level", []

        validate(raw, "prompts.schema.json", where=str(self.path), locate=locate)
        return raw


def _defaults(document: dict) -> dict:
    return {**BUILT_IN_DEFAULTS, **document.get("defaults", {})}

"""Load a JSON Schema shipped with the package and turn its first error into one readable line."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema

from bakeoff.errors import BakeoffError


@cache
def schema(name: str) -> dict:
    return json.loads(resources.files("bakeoff.schemas").joinpath(name).read_text())


def validate(instance, schema_name: str, *, where: str, locate) -> None:
    """Raise BakeoffError naming `where` (a file), the entry and the field of the first problem.

    `locate(path)` splits the path of the bad value into a readable entry name and the field path
    inside that entry.
    """
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return
    entry, field_path = locate(list(error.absolute_path))
    field = ".".join(str(p) for p in field_path) or "(the entry itself)"
    raise BakeoffError(f"{where}: {entry}: field '{field}': {error.message}")

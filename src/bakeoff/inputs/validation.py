"""Read a user's JSON or YAML file, check it against a JSON Schema shipped with the package, and
turn the first problem into one readable line naming the file, the entry and the field."""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError


def read_document(path: Path, syntax: str):
    """The parsed content of a JSON, YAML or TOML (`syntax`) file; BakeoffError with one line otherwise."""
    import yaml  # here, not at the top: a `bakeoff serve` handed its entry never reads a file

    parsers: dict[str, Callable[[str], Any]] = {"JSON": json.loads, "YAML": yaml.safe_load, "TOML": tomllib.loads}
    parse = parsers[syntax]
    try:
        return parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BakeoffError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise BakeoffError(f"{path}: is a directory, not a {syntax} file") from None
    except UnicodeDecodeError as exc:
        raise BakeoffError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BakeoffError(f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise BakeoffError(f"{path}: not valid {syntax}: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise BakeoffError(f"{path}: nested too deeply to read") from None
    except OSError as exc:
        raise BakeoffError(f"{path}: cannot read: {exc.strerror}") from None


@cache
def schema(name: str) -> dict:
    return json.loads(resources.files("bakeoff.schemas").joinpath(name).read_text())


def validate(instance, schema_name: str, *, where: str, locate, document: dict | None = None) -> None:
    """Raise BakeoffError naming `where` (a file), the entry and the field of the first problem.

    `document` is the schema when it is not the file as shipped (models.json's, whose lists of
    runtimes and source types come from the installed runtimes).

    `locate(path)` splits the path of the bad value into a readable entry name and the field path
    inside that entry. Valid input is passed by jsonschema-rs (10,000 models in 0.05 s, where
    jsonschema takes 5 s); jsonschema, whose `best_match` names the likeliest problem, runs only
    to word what is wrong.
    """
    try:
        # A JSON Schema "number" lets NaN and infinities through (YAML's .nan, TOML's nan, JSON's NaN).
        bad_path = _non_finite(instance)
        document = document or schema(schema_name)
        if bad_path is None and _passes_fast(schema_name, document, instance):
            return
        error = None
        if bad_path is None:
            import jsonschema  # 55 ms: only to word a problem

            validator = jsonschema.Draft202012Validator(document)
            error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    except RecursionError:
        raise BakeoffError(f"{where}: nested too deeply to check") from None
    if bad_path is not None:
        entry, field_path = locate(bad_path)
        message = "must be a finite number, not NaN or infinity"
    elif error is not None:
        entry, field_path = locate(list(error.absolute_path))
        message = error.message
    else:
        return
    field = ".".join(str(p) for p in field_path) or "(the entry itself)"
    raise BakeoffError(f"{where}: {entry}: field '{field}': {message}")


# Schema name -> (the document, its compiled validator): compiled once per document.
_fast_validators: dict[str, tuple[dict, object]] = {}


def _fast_validator(name: str, document: dict):
    import jsonschema_rs

    compiled_for, validator = _fast_validators.get(name, (None, None))
    if compiled_for is not document:
        validator = jsonschema_rs.validator_for(document)
        _fast_validators[name] = (document, validator)
    return validator


def _passes_fast(name: str, document: dict, instance) -> bool:
    try:
        return _fast_validator(name, document).is_valid(instance)
    except ValueError:  # a YAML date, binary or set, a TOML datetime: no JSON type; jsonschema words it
        return False


def _non_finite(value, path=()) -> list | None:
    """The path of the first NaN or infinity in parsed data, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return list(path)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, (*path, key))
        if found is not None:
            return found
    return None

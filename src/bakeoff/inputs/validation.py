"""Read a user's JSON or YAML file, check it against a JSON Schema shipped with the package, and
turn the first problem into one readable line naming the file, the entry and the field."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

from bakeoff.errors import BakeoffError


def read_document(path: Path, syntax: str):
    """The parsed content of a JSON or YAML (`syntax`) file; BakeoffError with one line otherwise."""
    import yaml  # here, not at the top: a `bakeoff serve` handed its entry never reads a file
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if syntax == "JSON" else yaml.safe_load(text)
    except FileNotFoundError:
        raise BakeoffError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise BakeoffError(f"{path}: is a directory, not a {syntax} file") from None
    except UnicodeDecodeError as exc:
        raise BakeoffError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BakeoffError(f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        raise BakeoffError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise BakeoffError(f"{path}: nested too deeply to read") from None
    except OSError as exc:
        raise BakeoffError(f"{path}: cannot read: {exc.strerror}") from None


@cache
def schema(name: str) -> dict:
    return json.loads(resources.files("bakeoff.schemas").joinpath(name).read_text())


def validate(instance, schema_name: str, *, where: str, locate) -> None:
    """Raise BakeoffError naming `where` (a file), the entry and the field of the first problem.

    `locate(path)` splits the path of the bad value into a readable entry name and the field path
    inside that entry.
    """
    import jsonschema  # 55 ms: only for what reads and checks a file

    validator = jsonschema.Draft202012Validator(schema(schema_name))
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return
    entry, field_path = locate(list(error.absolute_path))
    field = ".".join(str(p) for p in field_path) or "(the entry itself)"
    raise BakeoffError(f"{where}: {entry}: field '{field}': {error.message}")

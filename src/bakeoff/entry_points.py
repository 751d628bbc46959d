"""The runtimes installed distributions register, bakeoff's own among them: the entry-point group
`bakeoff.runtimes`, each entry `NAME = "module:Class"`, NAME being the `runtime` models.json names.

A runtime from outside bakeoff is one module and one line in its distribution's pyproject.toml:

    [project.entry-points."bakeoff.runtimes"]
    mine = "my_package.runtime:MyRuntime"

The group is read here, once, for the two that need it: `bakeoff.runtimes`, which serves the
runtimes, and the models.json schema in `bakeoff.inputs`, which must not import the runtimes
package (its modules import `bakeoff.inputs`). Loading a class imports its module and no more:
runtime modules import their SDKs only when they serve or look for them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from bakeoff.errors import BakeoffError

GROUP = "bakeoff.runtimes"


@cache
def _runtime_entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=GROUP):
        if entry_point.name in found and found[entry_point.name].value != entry_point.value:
            raise BakeoffError(
                f"two installed runtimes are called {entry_point.name!r} ({GROUP}): "
                f"{found[entry_point.name].value} and {entry_point.value}"
            )
        found[entry_point.name] = entry_point
    if not found:
        raise BakeoffError(f"no runtime is registered under the entry-point group {GROUP}: is bakeoff installed?")
    return found


def runtime_names() -> tuple[str, ...]:
    """The keys of the installed runtimes, sorted."""
    return tuple(sorted(_runtime_entry_points()))


@cache
def runtime_class(name: str) -> Any:
    """The class registered as runtime `name` (a `bakeoff.runtimes.Runtime`), its module imported."""
    try:
        entry_point = _runtime_entry_points()[name]
    except KeyError:
        raise BakeoffError(f"unknown runtime {name!r}; known: {', '.join(runtime_names())}") from None
    cls = entry_point.load()
    named = getattr(cls, "name", None)
    if named != name:
        raise BakeoffError(
            f"{entry_point.value} is registered as runtime {name!r} ({GROUP}) but names itself {named!r}"
        )
    return cls

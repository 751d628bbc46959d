"""No import cycle in src/bakeoff, between modules or between packages.

The graph is read from the source (ast), not from an import at run time, so it holds every import a
module names: at the top, inside a function (a lazy import is still a dependency) and under
`TYPE_CHECKING` (a type one module needs from another is a dependency too; only its loading is
deferred). An edge goes to the module named: `from bakeoff.runtimes import base` to
bakeoff.runtimes.base, `from bakeoff.runtimes import get` to the package bakeoff.runtimes. The
parent packages Python loads on the way (importing bakeoff.runtimes.base runs
bakeoff/runtimes/__init__.py first) are not edges: else every package whose `__init__` names one of
its own modules would be a cycle.

At package level each stage package (bakeoff.inputs, bakeoff.runtimes, ...) is one node, with all
its modules, and each top-level module (bakeoff.plugin, bakeoff.model_run, ...) is a node of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bakeoff

SRC = Path(bakeoff.__file__).parent
PACKAGES = ("inputs", "decide", "measure", "report", "runtimes", "show", "weights")


def module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str], src: Path = SRC) -> set[str]:
    """The bakeoff modules `path` imports, anywhere in it."""
    name = module_name(path, src)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from P import x`: the module P.x when x is one, else P itself
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(SRC.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules) for path in paths}


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and parts[1] in PACKAGES) else module


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, imported in graph.items():
        node = package_of(module)
        packages.setdefault(node, set()).update(package_of(other) for other in imported if package_of(other) != node)
    return packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan), each sorted: the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_module_imports_another_that_imports_it_back():
    assert cycles(import_graph()) == []


def test_no_package_imports_another_that_imports_it_back():
    packages = package_graph(import_graph())
    assert cycles(packages) == []


def test_the_graph_sees_every_kind_of_import(tmp_path):
    # A cycle through a lazy import, a TYPE_CHECKING import or a relative one is found, as is one
    # between two packages; a package importing its own module is not a cycle.
    modules = {"bakeoff", "bakeoff.a", "bakeoff.b", "bakeoff.inputs", "bakeoff.inputs.x", "bakeoff.decide", "bakeoff.decide.y"}
    sources = {
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bakeoff.b import B\n",
        "b.py": "def f():\n    from . import a\n",
        "inputs/__init__.py": "from bakeoff.inputs import x\n",
        "inputs/x.py": "import bakeoff.decide.y\n",
        "decide/y.py": "from ..inputs import x\n",
    }
    src, graph = tmp_path / "bakeoff", {}
    for relative, text in sources.items():
        path = src / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        graph[module_name(path, src)] = imported_modules(path, modules, src)
    assert graph["bakeoff.a"] == {"bakeoff.b"} and graph["bakeoff.b"] == {"bakeoff.a"}
    assert graph["bakeoff.decide.y"] == {"bakeoff.inputs.x"} and graph["bakeoff.inputs"] == {"bakeoff.inputs.x"}
    assert cycles(graph) == [["bakeoff.a", "bakeoff.b"], ["bakeoff.decide.y", "bakeoff.inputs.x"]]
    assert cycles(package_graph(graph)) == [["bakeoff.a", "bakeoff.b"], ["bakeoff.decide", "bakeoff.inputs"]]

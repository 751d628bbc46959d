"""`import bakeoff` offers exactly what `__all__` lists, and no module reaches into another's privates."""

import ast
import re
import subprocess
import sys
import types
from pathlib import Path

import bakeoff

SRC = Path(bakeoff.__file__).parent


def test_the_public_namespace_is_exactly_all():
    assert set(bakeoff._HOMES) == set(bakeoff.__all__) == set(dir(bakeoff))
    for name in bakeoff.__all__:
        assert getattr(bakeoff, name).__name__ == name  # every documented name resolves to itself
    public = {name for name, value in vars(bakeoff).items() if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public <= set(bakeoff.__all__)


def test_importing_bakeoff_loads_no_stage_until_a_name_is_used():
    code = "import sys, bakeoff; print(sorted(m for m in sys.modules if m.startswith('bakeoff.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_no_module_imports_a_private_name_of_another():
    private_import = re.compile(r"^\s*from bakeoff\.[\w.]+ import .*\b_[a-z]\w*", re.M)
    offenders = [str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if private_import.search(path.read_text())]
    assert offenders == []


def test_the_pytest_wiring_reads_no_private_attribute_of_another_object():
    # The judge plugin once read the state's `_progress`: what one part of the wiring gives another is public.
    wiring = ["plugin.py", "judge_plugin.py", "run_state.py", "launch_order.py", "distributed.py"]
    reads = []
    for name in wiring:
        for node in ast.walk(ast.parse((SRC / name).read_text())):
            if isinstance(node, ast.Attribute) and re.match(r"_[a-z]", node.attr) and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                reads.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert reads == []

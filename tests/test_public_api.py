"""`import bakeoff` offers exactly what `__all__` lists, and no module reaches into another's privates."""

import re
import types
from pathlib import Path

import bakeoff

SRC = Path(bakeoff.__file__).parent


def test_the_public_namespace_is_exactly_all():
    public = {name for name, value in vars(bakeoff).items() if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public == set(bakeoff.__all__)
    assert all(hasattr(bakeoff, name) for name in bakeoff.__all__)


def test_no_module_imports_a_private_name_of_another():
    private_import = re.compile(r"^\s*from bakeoff\.[\w.]+ import .*\b_[a-z]\w*", re.M)
    offenders = [str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if private_import.search(path.read_text())]
    assert offenders == []

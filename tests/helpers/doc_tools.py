"""The generators under docs/tools/, imported by their path: development tools outside the
runtime package (and outside any package), whose output the suite checks is current."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[2] / "docs" / "tools"


def load_tool(name: str) -> ModuleType:
    """docs/tools/NAME.py as a module named NAME."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

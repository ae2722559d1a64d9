"""docs/cli-reference.md is what ``--help`` prints today."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[1] / "docs" / "tools" / "cli_reference.py"


def load_generator():  # a development tool outside the runtime package: imported by its path
    spec = importlib.util.spec_from_file_location("cli_reference", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reference = load_generator()
REFERENCE, render = reference.REFERENCE, reference.render


def test_reference_is_current() -> None:
    assert REFERENCE.read_text() == render(), (
        "docs/cli-reference.md is out of date: run `python docs/tools/cli_reference.py --write`"
    )

"""docs/cli-reference.md is what ``--help`` prints today."""

from __future__ import annotations

from tests.helpers.doc_tools import load_tool

reference = load_tool("cli_reference")
REFERENCE, render = reference.REFERENCE, reference.render


def test_reference_is_current() -> None:
    assert REFERENCE.read_text() == render(), (
        "docs/cli-reference.md is out of date: run `python docs/tools/cli_reference.py --write`"
    )

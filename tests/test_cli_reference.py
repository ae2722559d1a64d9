"""docs/cli-reference.md is what ``--help`` prints today."""

from __future__ import annotations

from hubcli.cli.reference import REFERENCE, render


def test_reference_is_current() -> None:
    assert REFERENCE.read_text() == render(), (
        "docs/cli-reference.md is out of date: run `python -m hubcli.cli.reference --write`"
    )

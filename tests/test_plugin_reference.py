"""docs/plugin-contract.md is what ``hubcli.plugin_api`` declares today."""

from __future__ import annotations

from hubcli import plugin_api
from tests.helpers.doc_tools import load_tool

reference = load_tool("plugin_reference")
PUBLIC, REFERENCE, render = reference.PUBLIC, reference.REFERENCE, reference.render


def test_contract_reference_is_current() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/plugin-contract.md is out of date: run `python docs/tools/plugin_reference.py --write`"
    )


def test_every_public_class_and_abstract_method_is_documented() -> None:
    text = render()
    for name in PUBLIC:
        assert f"## `{name}`" in text
    assert "`route(self, state: 'Routed'" in text and "abstract: a plugin must implement it" in text
    assert "| `layers` | `str` | — |" in text  # InsertionPoints fields, from the dataclass


def test_every_name_of_the_package_is_documented() -> None:
    assert set(plugin_api.__all__) <= set(PUBLIC)

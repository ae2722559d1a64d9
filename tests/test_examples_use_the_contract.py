"""The example plugins and their tests import of hubcli only the contract and the kit, as a
third-party plugin does (import-linter sees only installed root packages, so this reads them)."""

from __future__ import annotations

import ast
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
ALLOWED = ("hubcli.plugin_api", "hubcli.testing")


def hubcli_imports(path: Path) -> set[str]:
    """The hubcli modules ``path`` imports, wherever in it (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "hubcli" or name.startswith("hubcli.")}


def test_the_examples_import_only_the_contract_and_the_kit() -> None:
    sources = sorted(EXAMPLES.glob("*/**/*.py"))
    assert sources
    outside = {
        f"{path.relative_to(EXAMPLES)}: {name}"
        for path in sources
        for name in hubcli_imports(path)
        if not any(name == allowed or name.startswith(f"{allowed}.") for allowed in ALLOWED)
    }
    assert not outside, sorted(outside)

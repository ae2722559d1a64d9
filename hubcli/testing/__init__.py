"""The plugin author's kit: pytest fixtures and contract checks (docs/plugin-kit.md).

Use it from a ``conftest.py`` with ``pytest_plugins = ["hubcli.testing"]``. It is public and
follows ``hubcli.plugin_api.PLUGIN_API_VERSION``: a name here is removed or changed only with a
new API version. The fixtures:

- ``register_plugin(kind, name, plugin)``: a plugin active for one test, without installing a
  package (the idea comes from llm's and datasette's test suites);
- ``temp_registry``: an empty registry for one test, which ``hubcli`` commands use too;
- ``run_hubcli(*args)``: the ``hubcli`` CLI, in process, against that registry.

And the helpers: ``tiny_model(family)`` / ``save_tiny_model`` / ``tiny_inputs`` (real
``transformers`` models of every supported family, milliseconds per forward pass),
``check_architecture_plugin(plugin, write_adapter, tmp_path, families)`` and
``check_model_family_plugin(plugin, model)``; ``stitch(base, adapters, registry=…)``,
``stitched_model(model)`` and ``activate_composition(stitched, spec)`` run a plugin's adapters
(``hubcli.testing.stitching``).

Importing this module stays cheap (pytest loads it at start-up): torch and transformers are
imported inside the helpers that need them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hubcli.discovery import manager
from hubcli.testing.contract import ContractReport, check_architecture_plugin
from hubcli.testing.families import check_model_family_plugin
from hubcli.testing.models import (
    TINY_FAMILIES,
    TINY_TASK_TYPES,
    model_output,
    save_tiny_model,
    tiny_inputs,
    tiny_model,
)
from hubcli.testing.stitching import activate_composition, stitch, stitched_model

if TYPE_CHECKING:
    from registry import Registry

__all__ = [
    "TINY_FAMILIES",
    "TINY_TASK_TYPES",
    "activate_composition",
    "CliOutcome",
    "ContractReport",
    "check_architecture_plugin",
    "check_model_family_plugin",
    "model_output",
    "register_plugin",
    "run_hubcli",
    "save_tiny_model",
    "stitch",
    "stitched_model",
    "temp_registry",
    "tiny_inputs",
    "tiny_model",
]


@pytest.fixture
def register_plugin() -> Iterator[Callable[[str, str, Any], None]]:
    """``register_plugin(kind, name, plugin)``: active until the end of the test."""
    registered: list[tuple[str, str]] = []

    def register(kind: str, name: str, plugin: Any) -> None:
        manager.register(kind, name, plugin)
        registered.append((kind, name))

    yield register
    for kind, name in registered:
        manager.unregister(kind, name)


@pytest.fixture
def temp_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """An empty SQLite registry in ``tmp_path``; ``HUBCLI_HOME`` points at it for the test, so
    ``run_hubcli`` (and any ``hubcli`` subprocess inheriting the environment) sees the same."""
    from registry import Registry

    home = tmp_path / "hubcli-registry"
    monkeypatch.setenv("HUBCLI_HOME", str(home))
    monkeypatch.delenv("HUBCLI_DATABASE_URL", raising=False)
    registry = Registry(home)
    yield registry
    registry.close()


@dataclass
class CliOutcome:
    """One ``hubcli`` run: exit code and the two streams; ``json()`` parses stdout."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        import json

        return json.loads(self.stdout)


@pytest.fixture
def run_hubcli(temp_registry: Registry) -> Callable[..., CliOutcome]:
    """``run_hubcli("list", "--json")``: the CLI in process against ``temp_registry``. Errors
    come back as exit code 1 and ``Error: …`` on stderr, as a user would see them."""
    from typer.testing import CliRunner

    from hubcli.cli import app

    runner = CliRunner()

    def run(*args: Any) -> CliOutcome:
        result = runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)
        return CliOutcome(result.exit_code, result.stdout, result.stderr)

    return run

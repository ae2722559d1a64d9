"""Pytest helpers for hubcli and for plugin authors.

Use from a ``conftest.py`` with ``pytest_plugins = ["hubcli.testing"]``. The fixture
``register_plugin`` adds a plugin to hubcli for one test only, without installing a package
(the idea comes from llm's and datasette's test suites).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hubcli.discovery import manager


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

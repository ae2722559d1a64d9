"""Plugin contract v2 at load time: ``api_version`` is required and must be this hubcli's, an
entry point is named like its plugin, and every call of a loaded plugin is isolated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from hubcli.discovery import PluginManager, manager
from hubcli.plugin_api import (
    PLUGIN_API_VERSION,
    ArchitecturePlugin,
    CapabilityNotSupported,
    CompositionPlugin,
    PluginError,
)
from tests.helpers.toy_plugin import ToyArchitecture


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBCLI_STRICT_PLUGINS", "0")


def test_a_plugin_without_api_version_is_refused_with_what_to_add(register_plugin, lenient) -> None:
    class Undeclared(ArchitecturePlugin):
        name = "undeclared"

        def detect(self, folder: Any) -> None:
            return None

        def validate(self, adapter: Any, tensors: Any) -> None:
            return None

    register_plugin("architecture", "undeclared", Undeclared)
    with pytest.raises(PluginError) as caught:
        manager.load("architecture", "undeclared")
    assert str(caught.value) == (
        "architecture plugin 'undeclared' is broken: declares no api_version: "
        f"add `api_version = {PLUGIN_API_VERSION}` to its class"
    )


def test_a_plugin_for_api_1_is_refused_with_what_changed(register_plugin, lenient) -> None:
    class OldStyle(ToyArchitecture):
        api_version = 1

    register_plugin("architecture", "old", OldStyle)
    with pytest.raises(PluginError) as caught:
        manager.load("architecture", "old")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("architecture plugin 'old' is broken: is written for plugin API 1, this hubcli")
    for what in ("hubcli.plugin_api", "runtime", f"api_version = {PLUGIN_API_VERSION}", "From API 1 to 2"):
        assert what in message


@dataclass
class FakeDistribution:
    name: str
    version: str = "1.0"


@dataclass
class FakeEntryPoint:
    """What ``importlib.metadata`` hands discovery, for a plugin that is not installed."""

    name: str
    plugin: Any
    dist: FakeDistribution

    @property
    def value(self) -> str:
        return f"fake:{self.plugin.__name__}"

    def load(self) -> Any:
        return self.plugin


def test_an_entry_point_named_unlike_its_plugin_is_refused(monkeypatch, lenient) -> None:
    fresh = PluginManager()
    point = FakeEntryPoint("toys", ToyArchitecture, FakeDistribution("hubcli-toys"))
    monkeypatch.setattr(fresh, "_entry_points", lambda kind: {point.name: point})
    with pytest.raises(PluginError) as caught:
        fresh.load("architecture", "toys")
    assert str(caught.value) == (
        "architecture plugin 'toys' is broken: entry point 'toys' loads a plugin named 'toy': "
        "the entry point's name must equal the plugin's `name`"
    )


class Faulty(ToyArchitecture):
    """Every model-side method fails the way a buggy plugin does."""

    def merge(self, target: Any, name: str) -> None:
        raise RuntimeError("merge went wrong")

    def export(
        self, adapter: Any, fmt: str, folder: Any, *, name: str, model_type: str | None = None
    ) -> None:
        raise ValueError("bad export")

    def untrained(self, target: Any, options: Any, task_type: Any, labels: Any) -> Any:
        raise KeyError("size")

    def module_updates(self, adapter: Any) -> list[Any]:
        raise CapabilityNotSupported("toy: no updates")  # hubcli's own errors pass through

    def unmerge(self, target: Any, name: str) -> None:
        raise KeyboardInterrupt  # the user's, never turned into a plugin error


class FaultyBlock(CompositionPlugin):
    name = "faulty"
    api_version = 2

    def route(self, state: Any, children: Any, args: Any, owned: Any) -> Any:
        raise ZeroDivisionError("division by zero")


def test_every_call_of_a_plugin_is_isolated_and_names_the_plugin(register_plugin) -> None:
    manager.register("architecture", "toy", Faulty, distribution="hubcli-faulty")
    try:
        plugin = manager.load("architecture", "toy")
        assert isinstance(plugin, ArchitecturePlugin) and isinstance(plugin, Faulty)
        expected = {
            "merge": "RuntimeError: merge went wrong",
            "export": "ValueError: bad export",
            "untrained": "KeyError: 'size'",
        }
        calls = {
            "merge": lambda: plugin.merge(None, "a"),
            "export": lambda: plugin.export(None, "peft", None, name="a"),
            "untrained": lambda: plugin.untrained(None, {}, None, []),
        }
        for method, call in calls.items():
            with pytest.raises(PluginError) as caught:
                call()
            assert str(caught.value) == (
                f"architecture plugin 'toy' (hubcli-faulty) failed in {method}: {expected[method]}"
            )
        with pytest.raises(CapabilityNotSupported, match="^toy: no updates$"):
            plugin.module_updates(None)
        with pytest.raises(KeyboardInterrupt):
            plugin.unmerge(None, "a")
    finally:
        manager.unregister("architecture", "toy")

    register_plugin("composition", "faulty", FaultyBlock)
    block = manager.load("composition", "faulty")
    with pytest.raises(
        PluginError,
        match=r"^composition plugin 'faulty' failed in route: ZeroDivisionError: division by zero$",
    ):
        block.route(None, [], {}, None)


def test_a_plugin_loaded_twice_is_guarded_once(register_plugin) -> None:
    plugin = Faulty()
    register_plugin("architecture", "toy", plugin)
    assert manager.load("architecture", "toy") is plugin
    register_plugin("architecture", "toy", plugin)  # a second registration reloads it
    loaded = manager.load("architecture", "toy")
    with pytest.raises(PluginError) as caught:
        loaded.merge(None, "a")
    assert str(caught.value) == "architecture plugin 'toy' failed in merge: RuntimeError: merge went wrong"

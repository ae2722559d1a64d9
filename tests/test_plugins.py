"""Plugin discovery: listing without importing, isolation of broken plugins, restrictions."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hubcli.discovery import PluginManager, manager
from hubcli.plugin_api import PLUGIN_API_VERSION, PluginError
from tests.helpers.toy_plugin import ToyArchitecture, write_toy_adapter

BUILTIN_ARCHITECTURES = {"bottleneck", "ia3", "lora", "prefix_tuning", "prompt_tuning"}


def test_listing_reads_metadata_without_importing_plugins() -> None:
    code = textwrap.dedent(
        """
        import sys
        from hubcli.discovery import manager
        infos = manager.infos()
        print(sorted(i.name for i in infos if i.kind == "architecture"))
        print(sorted(m for m in sys.modules if m.startswith("plugins.")))
        print(sorted(m for m in ("torch", "transformers", "textual", "huggingface_hub") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, imported, heavy = out.stdout.splitlines()
    assert set(eval(names)) >= BUILTIN_ARCHITECTURES
    assert eval(imported) == [] and eval(heavy) == []


def test_builtins_load_through_entry_points() -> None:
    fresh = PluginManager()
    lora = fresh.load("architecture", "lora")
    assert lora.name == "lora"
    info = {i.name: i for i in fresh.infos("architecture")}["lora"]
    assert (info.status, info.distribution) == ("loaded", "hubcli")


def test_registered_plugin_is_used_for_one_test(register_plugin, cli, tmp_path) -> None:
    register_plugin("architecture", "toy", ToyArchitecture)
    result = cli("add", write_toy_adapter(tmp_path / "t"), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()[0]["adapter"]["architecture"] == "toy"
    rows = {row["name"]: row for row in cli("plugins", "--json").json()}
    assert rows["toy"]["status"] == "loaded"


def test_a_broken_plugin_is_reported_and_isolated(register_plugin, cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HUBCLI_STRICT_PLUGINS", "0")

    class Exploding(ToyArchitecture):
        def __init__(self) -> None:
            raise RuntimeError("kaboom")

    register_plugin("architecture", "exploding", Exploding)
    register_plugin("architecture", "toy", ToyArchitecture)
    result = cli("add", write_toy_adapter(tmp_path / "t"))
    assert result.exit_code == 0
    assert (
        "architecture plugin 'exploding' is broken: could not be created: RuntimeError: kaboom"
        in result.stderr
    )
    rows = {row["name"]: row for row in cli("plugins", "--json").json()}
    assert rows["exploding"]["status"] == "broken" and "kaboom" in rows["exploding"]["error"]
    assert cli("list", "--json").json()[0]["architecture"] == "toy"


def test_strict_mode_raises_for_a_broken_plugin(register_plugin) -> None:
    register_plugin("architecture", "notaplugin", object())
    with pytest.raises(PluginError, match="does not implement ArchitecturePlugin"):
        manager.load_all("architecture")


def test_a_plugin_for_a_newer_api_is_refused(register_plugin, monkeypatch) -> None:
    monkeypatch.setenv("HUBCLI_STRICT_PLUGINS", "0")

    class FromTheFuture(ToyArchitecture):
        api_version = PLUGIN_API_VERSION + 1

    register_plugin("architecture", "future", FromTheFuture)
    assert "future" not in manager.load_all("architecture")
    with pytest.raises(PluginError, match="needs plugin API"):
        manager.load("architecture", "future")


def test_load_plugins_variable_restricts_third_party_only(monkeypatch) -> None:
    monkeypatch.setenv("HUBCLI_LOAD_PLUGINS", "")
    fresh = PluginManager()
    statuses = {i.name: i.status for i in fresh.infos("architecture")}
    assert {statuses[name] for name in BUILTIN_ARCHITECTURES} == {"available"}


def test_unknown_plugin_names_what_is_installed() -> None:
    with pytest.raises(PluginError, match=r"no architecture plugin named 'nope' \(installed: .*lora"):
        manager.load("architecture", "nope")


def test_a_plugin_failing_in_detect_is_named_and_the_others_still_import(
    register_plugin, cli, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("HUBCLI_STRICT_PLUGINS", "0")

    class FailingDetect(ToyArchitecture):
        def detect(self, folder):
            raise KeyError("oops")

    register_plugin("architecture", "failing", FailingDetect)
    register_plugin("architecture", "toy", ToyArchitecture)
    result = cli("add", write_toy_adapter(tmp_path / "t"), "--json")
    assert result.exit_code == 0
    assert "architecture plugin 'failing' is broken: detect raised KeyError: 'oops'" in result.stderr
    assert result.json()[0]["adapter"]["architecture"] == "toy"
    rows = {row["name"]: row for row in cli("plugins", "--json").json()}
    assert rows["failing"]["status"] == "broken"


def test_a_plugin_failing_in_validate_or_attach_is_named_in_one_line(
    register_plugin, cli, registry, tmp_path
) -> None:
    class FailingValidate(ToyArchitecture):
        def validate(self, adapter, tensors):
            raise ZeroDivisionError("division by zero")

    register_plugin("architecture", "toy", FailingValidate)
    result = cli("add", write_toy_adapter(tmp_path / "t"))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: architecture plugin 'toy' failed in validate: ZeroDivisionError: division by zero"
    )
    assert registry.count_adapters() == 0

    from hubcli.engine import StitchedModel
    from hubcli.plugin_api import LoadedAdapter
    from hubcli.testing import tiny_model
    from tests.helpers.tiny_models import ENGINE_OPTIONS

    class FailingAttach(ToyArchitecture):
        def attach(self, target, adapter):
            raise RuntimeError("no room")

    register_plugin("architecture", "toy", FailingAttach)
    stitched = StitchedModel(tiny_model("bert", **ENGINE_OPTIONS["bert"]))
    loaded = LoadedAdapter("a", "toy", "toy", {}, {}, {})
    with pytest.raises(
        PluginError, match=r"^architecture plugin 'toy' failed in attach: RuntimeError: no room$"
    ):
        stitched.attach(loaded)


def test_a_command_plugin_adds_a_subcommand(register_plugin, cli) -> None:
    import typer

    extra = typer.Typer()

    @extra.command()
    def hello(name: str) -> None:
        """Say hello."""
        typer.echo(f"hello {name}")

    register_plugin("command", "hello", extra)
    assert "hello" in cli("--help").stdout
    result = cli("hello", "world")
    assert (result.exit_code, result.stdout) == (0, "hello world\n")

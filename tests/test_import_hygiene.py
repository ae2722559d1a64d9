"""Fast start and the dependency direction, checked on ``sys.modules`` in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from registry import Registry
from tests.test_registry import new_adapter

HEAVY = (
    "torch",
    "transformers",
    "peft",
    "textual",
    "huggingface_hub",
    "matplotlib",
    "sklearn",
    "scipy",
    "datasets",
)
DATABASE = ("sqlalchemy", "sqlmodel")
"""What opening the registry costs: only the commands that read it may import these."""


def modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def cli_modules(args: list[str], home: Path) -> set[str]:
    code = textwrap.dedent(
        f"""
        import sys
        sys.argv = ["hubcli", *{args!r}]
        from hubcli.cli import app
        try:
            app()
        except SystemExit as exit:
            assert not exit.code, exit.code
        """
    )
    return modules_after(code, env={**os.environ, "HUBCLI_HOME": str(home)})


def test_help_and_plugins_import_no_database_and_nothing_heavy(hubcli_home: Path) -> None:
    """``--help`` and ``plugins`` read entry-point metadata, not the registry."""
    for args in (["--help"], ["plugins"], ["plugins", "--json"]):
        loaded = cli_modules(args, hubcli_home)
        assert not [m for m in (*DATABASE, *HEAVY) if m in loaded], args


def test_help_list_show_import_nothing_heavy(hubcli_home: Path, tmp_path: Path) -> None:
    registry = Registry(hubcli_home)
    registry.add_adapter(new_adapter(tmp_path, "a"))
    registry.close()
    for args in (["--help"], ["list"], ["list", "--json"], ["show", "a"], ["show", "a", "--json"]):
        loaded = cli_modules(args, hubcli_home)
        assert not [m for m in HEAVY if m in loaded], args


def test_registry_imports_nothing_of_ours_or_heavy() -> None:
    loaded = modules_after("import registry, registry.registry, registry.store")
    assert not [m for m in (*HEAVY, "hubcli", "plugins") if m in loaded]


def test_registry_package_errors_and_crash_points_import_no_database() -> None:
    """``import registry`` is cheap: its names load their module on first use (``hubcli.tensor_files``
    needs ``registry.faults`` on every start-up), and they still resolve."""
    assert not [
        m for m in DATABASE if m in modules_after("import registry, registry.errors, registry.faults")
    ]
    loaded = modules_after("from registry import Registry, Adapter, open_registry")
    assert {"registry.registry", "registry.schema", "sqlmodel"} <= loaded


def test_contract_and_discovery_import_no_database() -> None:
    loaded = modules_after("import hubcli.plugin_api, hubcli.discovery")
    assert not [m for m in DATABASE if m in loaded]


def test_contract_and_discovery_import_nothing_heavy() -> None:
    loaded = modules_after("import hubcli.plugin_api, hubcli.discovery, hubcli.importer")
    assert not [m for m in HEAVY if m in loaded]
    assert not [m for m in loaded if m.startswith("plugins")], (
        "hubcli reaches plugins only through entry points"
    )

"""``hubcli add`` and ``hubcli pull`` killed with SIGKILL at every point that matters leave a
consistent registry.

After each kill: the adapter is either completely registered or absent, ``hubcli verify``
reports clean once it has removed the leftovers, and the next run succeeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder
from registry import Registry
from tests.helpers.peft_files import write_peft_lora

POINTS = [
    ("validated", False),
    ("pickle-converted", True),
    ("blob-written", False),
    ("blob-stored", False),
    ("blob-written:2", False),
    ("before-commit", False),
    ("after-commit", False),
]


def leftovers(home: Path) -> list[Path]:
    scratch = [home / "blobs" / "tmp", home / "blobs" / "claims", home / "staging"]
    return [p for folder in scratch for p in folder.iterdir()]


@pytest.mark.parametrize(("point", "pickle"), POINTS, ids=[p for p, _ in POINTS])
def test_killed_add_leaves_a_consistent_registry(
    point: str, pickle: bool, hubcli_home: Path, tmp_path: Path
) -> None:
    existing = write_peft_lora(tmp_path / "existing", seed=1)
    registry = Registry(hubcli_home)
    import_adapter(registry, AdapterFolder(existing))
    # another rank: its config is a new blob too, so "blob-written:2" is a second new file
    folder = write_peft_lora(tmp_path / "victim", rank=3, seed=2, pickle=pickle)

    env = {**os.environ, "HUBCLI_HOME": str(hubcli_home), "HUBCLI_CRASH_AT": point}
    killed = subprocess.run(
        [sys.executable, "-m", "hubcli", "add", str(folder)], env=env, capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    names = [a.name for a in registry.list_adapters()]
    assert names in (["existing"], ["existing", "victim"])
    report = registry.verify()
    assert report.ok, (report.missing, report.corrupt)
    assert not leftovers(hubcli_home)
    stored = set(registry.store.all_blobs())
    referenced = {f.sha256 for a in registry.list_adapters() for f in registry.files(a)}
    assert stored == referenced, "no orphan blob survives the cleanup"

    outcome = import_adapter(registry, AdapterFolder(folder))
    assert outcome.adapter.name == "victim"
    assert outcome.created == (names == ["existing"])
    assert registry.verify().ok
    registry.close()


PULL_POINTS = ["downloaded", "validated", "blob-stored", "before-commit", "after-commit"]


@pytest.mark.parametrize("point", PULL_POINTS)
def test_killed_pull_leaves_a_consistent_registry(
    point: str, hub, cli, hubcli_home: Path, tmp_path: Path
) -> None:
    from tests.hub_server import TEST_USER

    repo = f"{TEST_USER}/crash-{point.replace(':', '-')}"
    assert cli("add", write_peft_lora(tmp_path / "local", seed=3)).exit_code == 0
    assert cli("push", "local", repo).exit_code == 0
    registry = Registry(hubcli_home)

    env = {**os.environ, "HUBCLI_HOME": str(hubcli_home), "HUBCLI_CRASH_AT": point}
    killed = subprocess.run(
        [sys.executable, "-m", "hubcli", "pull", repo, "--name", "pulled"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    names = [a.name for a in registry.list_adapters()]
    assert names in (["local"], ["local", "pulled"])
    assert registry.verify().ok and not leftovers(hubcli_home)
    again = cli("pull", repo, "--name", "pulled", "--json")
    assert again.exit_code == 0, again.stderr
    assert [a.name for a in registry.list_adapters()] == ["local", "pulled"]
    assert registry.verify().ok
    registry.close()

"""Integrity on every read: a stored file that is missing, truncated or no longer hashes to its
sha256 stops stitch, predict, export and push with one line naming the adapter and the file, and
nothing is written or uploaded from it (issue 19, "integrity on every read")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry import Registry
from registry.errors import BlobDamaged
from tests.helpers.registry_state import registry_bytes

GOLDEN = Path(__file__).parent / "golden" / "adapterhub" / "bert"
BASE = str(GOLDEN / "base")
IDS = json.dumps([[5, 9, 14, 3, 77]])


def weights_blob(registry: Registry, name: str) -> Path:
    adapter = registry.get_adapter(name)
    (weights,) = [f for f in registry.files(adapter) if f.role == "weights"]
    return registry.store.path(weights.sha256)


DAMAGES = {
    "flipped": lambda blob: blob.write_bytes(bytes([blob.read_bytes()[0] ^ 1]) + blob.read_bytes()[1:]),
    "truncated": lambda blob: blob.write_bytes(blob.read_bytes()[:-7]),
    "missing": lambda blob: blob.unlink(),
}
MESSAGES = {
    "flipped": "no longer matches its sha256",
    "truncated": "were registered",
    "missing": "its stored file is missing",
}


@pytest.fixture
def damaged_lora(cli, request) -> str:
    added = cli("add", GOLDEN / "adapters" / "lora", "--name", "lora")
    assert added.exit_code == 0, added.stderr
    return request.param


def one_line_naming_the_file(result, how: str) -> None:
    assert result.exit_code == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "adapter 'lora', file " in lines[0] and MESSAGES[how] in lines[0]
    assert "hubcli verify" in lines[0]


@pytest.mark.parametrize("damaged_lora", sorted(DAMAGES), indirect=True)
def test_a_damaged_blob_is_never_used(cli, registry, hubcli_home, tmp_path, damaged_lora) -> None:
    how = damaged_lora
    DAMAGES[how](weights_blob(registry, "lora"))
    before = registry_bytes(hubcli_home)

    one_line_naming_the_file(cli("predict", BASE, "lora", "--input-ids", IDS), how)
    one_line_naming_the_file(cli("stitch", BASE, "lora", "--out", tmp_path / "bundle"), how)
    assert not (tmp_path / "bundle").exists()
    one_line_naming_the_file(cli("export", "lora", tmp_path / "exported"), how)
    assert not (tmp_path / "exported").exists() or not any((tmp_path / "exported").iterdir())
    assert registry_bytes(hubcli_home) == before


def test_push_uploads_nothing_from_a_damaged_blob(cli, registry, hub) -> None:
    assert cli("add", GOLDEN / "adapters" / "lora", "--name", "lora").exit_code == 0
    DAMAGES["flipped"](weights_blob(registry, "lora"))
    one_line_naming_the_file(cli("push", "lora", "me/lora"), "flipped")
    assert "me/lora" not in hub.state.repos


def test_an_intact_blob_is_hashed_once_per_process(registry, tmp_path) -> None:
    blob = tmp_path / "x.bin"
    blob.write_bytes(b"adapter weights")
    sha, size = registry.store.put(blob)
    path = registry.store.verified_path(sha, size, lambda: "x")
    path.chmod(0o000)  # unreadable: a second hash would fail, the remembered check does not read it
    try:
        assert registry.store.verified_path(sha, size, lambda: "x") == path
    finally:
        path.chmod(0o644)
    path.write_bytes(b"adapter weightz")  # same size, new content and modification time
    with pytest.raises(BlobDamaged, match="no longer matches"):
        registry.store.verified_path(sha, size, lambda: "x")

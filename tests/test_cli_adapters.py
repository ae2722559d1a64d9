"""The adapter commands end to end through the CLI, on a test-only architecture plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.registry_state import registry_bytes
from tests.helpers.toy_plugin import ToyArchitecture, write_toy_adapter


@pytest.fixture(autouse=True)
def only_toy(register_plugin, monkeypatch):
    """These tests are about the commands, not the formats: detection by the toy plugin only."""
    monkeypatch.setattr("hubcli.discovery.architectures", lambda: {"toy": ToyArchitecture()})
    register_plugin("architecture", "toy", ToyArchitecture)


def test_add_list_show_tag_rm(cli, tmp_path: Path) -> None:
    added = cli("add", write_toy_adapter(tmp_path / "first"), "--tag", "demo", "--json")
    assert added.exit_code == 0, added.stderr
    assert added.json()[0]["created"] is True
    cli("add", write_toy_adapter(tmp_path / "second", size=8, seed=1))

    rows = cli("list", "--json").json()
    assert [r["name"] for r in rows] == ["first", "second"]
    assert rows[0]["num_parameters"] == 4 and rows[0]["tags"] == ["demo"]
    assert [r["name"] for r in cli("list", "--tag", "demo", "--json").json()] == ["first"]
    assert [r["name"] for r in cli("ls", "--sort", "num_parameters", "--desc", "--json").json()] == [
        "second",
        "first",
    ]
    human = cli("list").stdout
    assert "first" in human and "toy" in human

    shown = cli("show", "first", "--json").json()
    assert shown["method_config"] == {"size": 4}
    assert {f["path"]: f["role"] for f in shown["files"]} == {
        "adapter_config.json": "config",
        "toy.safetensors": "weights",
    }
    assert "toy.safetensors" in cli("show", "first").stdout

    assert cli("tag", "second", "x", "y", "--json").json()["tags"] == ["x", "y"]
    assert cli("tag", "second", "--remove", "x", "--json").json()["tags"] == ["y"]

    removed = cli("rm", "second", "--yes", "--json")
    assert removed.json() == [{"name": "second", "blobs_freed": 2}]
    assert [r["name"] for r in cli("list", "--json").json()] == ["first"]
    assert cli("verify", "--json").json()["ok"] is True


def test_identical_content_is_a_no_op_that_says_so(cli, tmp_path: Path) -> None:
    folder = write_toy_adapter(tmp_path / "a")
    cli("add", folder)
    again = cli("add", folder)
    assert again.exit_code == 0 and "already registered" in again.stdout
    assert len(cli("list", "--json").json()) == 1
    named = cli("add", folder, "--name", "a-copy", "--json").json()[0]
    assert named["created"] and named["adapter"]["name"] == "a-copy"


def test_taken_name_with_other_content_is_refused(cli, tmp_path: Path, hubcli_home: Path) -> None:
    cli("add", write_toy_adapter(tmp_path / "a"))
    before = registry_bytes(hubcli_home)
    result = cli("add", write_toy_adapter(tmp_path / "other", seed=3), "--name", "a")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("Error: an adapter named 'a' already exists")
    assert registry_bytes(hubcli_home) == before


def test_subfolders_need_a_choice(cli, tmp_path: Path) -> None:
    write_toy_adapter(tmp_path / "repo" / "one")
    write_toy_adapter(tmp_path / "repo" / "two", seed=2)
    refused = cli("add", tmp_path / "repo")
    assert refused.exit_code == 1 and "holds 2 adapters (one, two)" in refused.stderr
    assert cli("add", tmp_path / "repo", "--subfolder", "two", "--json").json()[0]["adapter"]["name"] == "two"
    assert [o["adapter"]["name"] for o in cli("add", tmp_path / "repo", "--all", "--json").json()] == [
        "one",
        "two",
    ]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "adapter_config.json").write_text('{"toy": {"size": 4'),
            "adapter_config.json: invalid JSON at line 1 column",
        ),
        (
            lambda d: (d / "adapter_config.json").write_text(json.dumps({"toy": {"size": 5}})),
            "toy.weight: expected shape [5]",
        ),
        (
            lambda d: (d / "toy.safetensors").write_bytes(b"\xff" * 4),
            "toy.safetensors: not a safetensors file",
        ),
        (
            lambda d: (d / "adapter_config.json").write_text('{"lora": 1}'),
            "no installed architecture recognises this adapter",
        ),
    ],
)
def test_bad_input_is_one_line_exit_1_registry_unchanged(cli, tmp_path, hubcli_home, damage, message) -> None:
    cli("add", write_toy_adapter(tmp_path / "good"))
    before = registry_bytes(hubcli_home)
    bad = write_toy_adapter(tmp_path / "bad", seed=9)
    damage(bad)
    result = cli("add", bad)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert registry_bytes(hubcli_home) == before


def test_unknown_adapter_and_verify_failure(cli, tmp_path: Path, hubcli_home: Path) -> None:
    missing = cli("show", "nope")
    assert missing.exit_code == 1 and "no adapter named 'nope'" in missing.stderr
    cli("add", write_toy_adapter(tmp_path / "a"))
    for blob in (hubcli_home / "blobs" / "sha256").rglob("*"):
        if blob.is_file():
            blob.write_bytes(b"bit rot")
    result = cli("verify", "--json")
    assert result.exit_code == 1 and len(result.json()["corrupt"]) == 2


def test_a_shared_postgresql_registry(cli, tmp_path: Path, postgres_admin_url: str, monkeypatch) -> None:
    from tests.postgres_server import create_database

    url = create_database(postgres_admin_url, "team_registry")
    monkeypatch.setenv("HUBCLI_DATABASE_URL", url)
    assert cli("add", write_toy_adapter(tmp_path / "shared")).exit_code == 0
    other_home = tmp_path / "other-member-home"
    listed = cli("--home", other_home, "list", "--json")
    assert [row["name"] for row in listed.json()] == ["shared"], "listing needs only the shared database"

"""Damaged environments (issue 19): a registry folder or database that cannot be used as it is
gives one line naming the path and the remedy, exit 1, and nothing further is damaged; junk in the
blob store never crashes ``verify``."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.helpers.toy_plugin import ToyArchitecture, write_toy_adapter


def a_file(home: Path) -> None:
    home.write_text("not a folder")


def a_folder_as_database(home: Path) -> None:
    (home / "registry.db").mkdir(parents=True)


def garbage(home: Path) -> None:
    home.mkdir()
    (home / "registry.db").write_bytes(bytes(range(256)) * 8)


def foreign(home: Path) -> None:
    home.mkdir()
    with closing(sqlite3.connect(home / "registry.db")) as conn:
        conn.execute("CREATE TABLE moz_places (url TEXT)")
        conn.commit()


def below_a_file(home: Path) -> None:
    home.parent.mkdir(parents=True, exist_ok=True)
    (home.parent / "file").write_text("x")


CASES = {
    "home is a file": (a_file, lambda home: home, "the registry folder is a file"),
    "database is a folder": (a_folder_as_database, lambda home: home, "the registry database is not a file"),
    "database is garbage": (garbage, lambda home: home, "damaged or not a database"),
    "another program's database": (
        foreign,
        lambda home: home,
        "is not a hubcli registry (it holds other tables: moz_places)",
    ),
    "home below a file": (
        below_a_file,
        lambda home: home.parent / "file" / "home",
        "cannot use the registry folder",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unusable_registry_is_one_line_and_left_as_it_was(cli, tmp_path: Path, case: str) -> None:
    make, home_of, message = CASES[case]
    home = tmp_path / "home"
    make(home)
    home = home_of(home)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for command in (("list",), ("show", "x"), ("verify",)):
        result = cli("--home", str(home), *command)
        assert result.exit_code == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_truncated_database_is_one_line(cli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert cli("--home", str(home), "list").exit_code == 0
    database = home / "registry.db"
    database.write_bytes(database.read_bytes()[:5000])
    result = cli("--home", str(home), "list")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "registry.db: the database file is damaged" in lines[0], result.stderr


def test_verify_passes_over_junk_in_the_store(
    cli, tmp_path: Path, hubcli_home: Path, register_plugin, monkeypatch
) -> None:
    monkeypatch.setattr("hubcli.discovery.architectures", lambda: {"toy": ToyArchitecture()})
    register_plugin("architecture", "toy", ToyArchitecture)
    assert cli("add", write_toy_adapter(tmp_path / "a")).exit_code == 0
    blobs = hubcli_home / "blobs" / "sha256"
    (blobs / "stray-file").write_text("x")
    (blobs / "ab" / "a-folder").mkdir(parents=True)
    result = cli("verify", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["ok"] is True
    assert (blobs / "ab" / "a-folder").is_dir()


def test_a_home_whose_name_has_url_characters_works(cli, tmp_path: Path) -> None:
    home = tmp_path / "team #1 %20 ?x=y"
    assert cli("--home", str(home), "list").exit_code == 0
    assert (home / "registry.db").is_file()

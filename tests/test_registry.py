"""The storage layer on its own: schema and migrations, transactions, blobs, integrity."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from registry import (
    AdapterExists,
    AdapterNotFound,
    NewAdapter,
    NewFile,
    Registry,
    RegistryError,
    SchemaTooNew,
    migrations,
)


@pytest.fixture
def registry(any_registry: Registry) -> Registry:
    """Every test of this module runs on SQLite and on PostgreSQL."""
    return any_registry


def new_adapter(tmp_path: Path, name: str, content: bytes = b"weights", **extra) -> NewAdapter:
    folder = tmp_path / f"src-{name}-{abs(hash(content))}"
    folder.mkdir(exist_ok=True)
    (folder / "adapter_config.json").write_text('{"r": 4}')
    (folder / "w.safetensors").write_bytes(content)
    return NewAdapter(
        name=name,
        architecture=extra.pop("architecture", "lora"),
        format="peft",
        source_kind="disk",
        source=str(folder),
        files=[
            NewFile("adapter_config.json", "config", folder / "adapter_config.json"),
            NewFile("w.safetensors", "weights", folder / "w.safetensors"),
        ],
        method_config={"r": 4},
        **extra,
    )


def blob_files(registry: Registry) -> set[str]:
    return set(registry.store.all_blobs())


def test_migrations_build_the_declared_schema(registry: Registry) -> None:
    inspector = inspect(registry.engine)
    for table in SQLModel.metadata.sorted_tables:
        declared = {c.name for c in table.columns}
        migrated = {c["name"] for c in inspector.get_columns(table.name)}
        assert declared == migrated, table.name
    with registry.engine.connect() as conn:
        assert migrations.current_version(conn) == migrations.latest_version()
        if registry.engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_reopening_applies_nothing_and_newer_schema_is_refused(registry: Registry) -> None:
    with registry.engine.begin() as conn:
        assert migrations.migrate(conn) == []
        conn.execute(migrations.schema_migrations.insert().values(version=999))
    with pytest.raises(SchemaTooNew, match="version 999"):
        Registry(registry.home, registry.url)


def test_add_stores_files_once_and_lists(registry: Registry, tmp_path: Path) -> None:
    first = registry.add_adapter(new_adapter(tmp_path, "a", tags=["x"], base_model="bert"))
    second = registry.add_adapter(new_adapter(tmp_path, "b", architecture="bottleneck"))
    assert first.created and second.created
    assert len(blob_files(registry)) == 2  # identical config and weights are stored once
    assert [a.name for a in registry.list_adapters()] == ["a", "b"]
    assert [a.name for a in registry.list_adapters(architecture="bottleneck")] == ["b"]
    assert [a.name for a in registry.list_adapters(tag="x")] == ["a"]
    assert [a.name for a in registry.list_adapters(search="BER")] == ["a"]
    assert [a.name for a in registry.list_adapters(sort="name", descending=True)] == ["b", "a"]
    files = registry.files(registry.get_adapter("a"))
    assert {f.path: f.role for f in files} == {"adapter_config.json": "config", "w.safetensors": "weights"}
    assert registry.file_path(files[1]).read_bytes() == b"weights"
    with pytest.raises(RegistryError, match="cannot sort"):
        registry.list_adapters(sort="password")


def test_same_name_same_content_is_a_no_op_else_an_error(registry: Registry, tmp_path: Path) -> None:
    registry.add_adapter(new_adapter(tmp_path, "a"))
    again = registry.add_adapter(new_adapter(tmp_path, "a"))
    assert not again.created
    with pytest.raises(AdapterExists, match="already exists"):
        registry.add_adapter(new_adapter(tmp_path, "a", content=b"other"))
    assert registry.count_adapters() == 1
    assert len(blob_files(registry)) == 2, "the refused import's new blob is collected"


def test_remove_collects_only_unshared_blobs(registry: Registry, tmp_path: Path) -> None:
    registry.add_adapter(new_adapter(tmp_path, "a"))
    registry.add_adapter(new_adapter(tmp_path, "b", content=b"other"))
    assert len(blob_files(registry)) == 3
    assert registry.remove_adapter("b") == 1  # config blob is shared with "a"
    assert len(blob_files(registry)) == 2
    with pytest.raises(AdapterNotFound, match="no adapter named 'b'"):
        registry.get_adapter("b")


def test_tags(registry: Registry, tmp_path: Path) -> None:
    registry.add_adapter(new_adapter(tmp_path, "a"))
    assert registry.set_tags("a", add=["x", "y"]) == ["x", "y"]
    assert registry.set_tags("a", add=["z"], remove=["x"]) == ["y", "z"]
    assert registry.tags(registry.get_adapter("a")) == ["y", "z"]


def test_verify_finds_missing_and_corrupt_blobs(registry: Registry, tmp_path: Path) -> None:
    registry.add_adapter(new_adapter(tmp_path, "a"))
    assert registry.verify().ok
    config, weights = registry.files(registry.get_adapter("a"))
    registry.file_path(config).write_bytes(b"tampered")
    registry.file_path(weights).unlink()
    report = registry.verify()
    assert not report.ok
    assert report.corrupt == [config.sha256]
    assert report.missing == [weights.sha256]


def test_cleanup_removes_what_dead_writers_left(registry: Registry, tmp_path: Path) -> None:
    registry.add_adapter(new_adapter(tmp_path, "a"))
    dead_pid = 2**22 + 12345  # above the default pid_max of 4194304: never alive
    (registry.store.tmp / f"{dead_pid}-partial").write_bytes(b"half a blob")
    (registry.store.staging_root / f"{dead_pid}-abc").mkdir()
    orphan = registry.store.path("ab" + "0" * 62)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"never registered")
    (registry.store.claims / f"{dead_pid}-x.json").write_text(f'["{"ab" + "0" * 62}"]')
    report = registry.verify()
    assert (report.cleanup.temporary_files, report.cleanup.staging_folders) == (1, 1)
    assert report.cleanup.orphan_blobs == 1 and not orphan.exists()
    assert report.ok and report.checked == 2


def test_live_claims_protect_blobs_being_registered(registry: Registry, tmp_path: Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"in flight")
    sha, _ = registry.store.put(source)
    with registry.store.claim([sha]):
        assert registry.cleanup().orphan_blobs == 0
        assert registry.store.exists(sha)
    assert registry.cleanup().orphan_blobs == 1


def test_search_looks_through_names_bases_tasks_descriptions_and_tags(
    registry: Registry, tmp_path: Path
) -> None:
    registry.add_adapter(new_adapter(tmp_path, "sst2_lora", base_model="BERT-base", task="SEQ_CLS"))
    registry.add_adapter(new_adapter(tmp_path, "sst2-lora", content=b"other", description="Sentiment 100%"))
    registry.set_tags("sst2-lora", add=["Favourite"])
    found = lambda text: [a.name for a in registry.list_adapters(search=text)]  # noqa: E731
    assert found("bert") == ["sst2_lora"] and found("seq_cls") == ["sst2_lora"]
    assert found("favour") == ["sst2-lora"] and found("100%") == ["sst2-lora"]
    assert found("2_l") == ["sst2_lora"], "'_' is a character, not a LIKE wildcard"
    registry.set_tags("sst2-lora", remove=["Favourite"])
    assert found("favour") == []


def test_migration_2_fills_the_search_text_of_existing_adapters(hubcli_home: Path) -> None:
    from sqlalchemy import create_engine

    from registry.migrations import m0001_initial, schema_migrations

    hubcli_home.mkdir(parents=True)
    engine = create_engine(f"sqlite:///{hubcli_home / 'registry.db'}")
    with engine.begin() as conn:
        m0001_initial.upgrade(conn)
        schema_migrations.create(conn)
        conn.execute(schema_migrations.insert().values(version=1))
        conn.exec_driver_sql(
            "INSERT INTO adapter (id, name, architecture, method_config, format, base_model, num_parameters,"
            " size_bytes, digest, source_kind, source, created_at, updated_at) VALUES (1, 'old', 'lora', '{}',"
            " 'peft', 'Llama', 1, 1, 'd', 'disk', '/x', '2026-01-01', '2026-01-01')"
        )
        conn.exec_driver_sql("INSERT INTO tag (adapter_id, name) VALUES (1, 'Legacy')")
    engine.dispose()
    registry = Registry(hubcli_home)
    assert [a.name for a in registry.list_adapters(search="legacy")] == ["old"]
    assert [a.name for a in registry.list_adapters(search="llama")] == ["old"]
    registry.close()


def test_a_file_that_changed_after_it_was_hashed_is_refused(registry: Registry, tmp_path: Path) -> None:
    from dataclasses import replace

    from registry import StoreCorrupt

    new = new_adapter(tmp_path, "a")
    new.files = [replace(item, sha256="0" * 64) for item in new.files]
    with pytest.raises(StoreCorrupt, match="changed while it was being imported"):
        registry.add_adapter(new)
    assert registry.count_adapters() == 0 and not blob_files(registry)

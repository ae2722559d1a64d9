"""The TUI over a registry of 100,000 adapters: it starts, pages and filters without loading
every row into the table. (Timings belong in the benchmark, not here.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from hubcli.tui.adapter_table import PAGE_SIZE, AdapterTable
from hubcli.tui.app import HubcliApp
from registry import Adapter, Registry, Tag
from registry.schema import utcnow
from tests.test_tui_support import settle

ADAPTERS = 100_000
BASES = ("bert-base-uncased", "roberta-base", "gpt2", "meta-llama/Llama-3.2-1B")
ARCHITECTURES = ("lora", "bottleneck", "ia3", "prefix_tuning")


def fill(registry: Registry, count: int) -> None:
    """Metadata rows only (no files), inserted in one transaction with SQLAlchemy core."""
    now = utcnow()
    rows = [
        {
            "name": f"adapter-{i:06d}",
            "architecture": ARCHITECTURES[i % 4],
            "method_config": {"r": 8},
            "format": "peft",
            "base_model": BASES[i % 3 if i % 1000 else 3],
            "num_parameters": i * 10,
            "size_bytes": i * 40,
            "digest": f"{i:064x}",
            "source_kind": "disk",
            "source": f"/data/{i}",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    for i, row in enumerate(rows):  # what Registry.add_adapter and set_tags keep in step
        row["search_text"] = "\n".join(
            [row["name"], row["base_model"], *(["nightly"] if i % 500 == 0 else [])]
        ).lower()
    with registry.engine.begin() as connection:
        connection.execute(insert(Adapter), rows)
        connection.execute(
            insert(Tag), [{"adapter_id": i + 1, "name": "nightly"} for i in range(0, count, 500)]
        )


@pytest.fixture(scope="module")
def large_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    registry = Registry(Path(tmp_path_factory.mktemp("tui-large")) / "home")
    fill(registry, ADAPTERS)
    yield registry
    registry.close()


@pytest.mark.slow
def test_starts_pages_and_filters_100k_adapters_without_loading_them_all(large_registry: Registry) -> None:
    async def scenario() -> None:
        app = HubcliApp(large_registry)
        async with app.run_test(size=(110, 32)) as pilot:
            table = app.query_one(AdapterTable)
            await settle(pilot, lambda: app.adapter_count == ADAPTERS and table.row_count > 0)
            assert app.sub_title.endswith("100,000 adapters")
            assert table.row_count == PAGE_SIZE and not table.complete

            await pilot.press("pagedown", "pagedown")
            await settle(pilot)
            table.move_cursor(row=table.row_count - 1)  # reaching the end fetches the next page
            await settle(pilot, lambda: table.row_count == 2 * PAGE_SIZE)
            assert str(table.get_row_at(PAGE_SIZE)[0]) == f"adapter-{PAGE_SIZE:06d}"

            await pilot.press("slash", *"adapter-0999")
            await settle(pilot, lambda: table.adapter_query.search == "adapter-0999" and table.complete)
            assert table.row_count == 100  # adapter-099900 … adapter-099999

            await pilot.press("enter", "r")  # sort descending by name within the filter
            await settle(pilot, lambda: table.adapter_query.descending and table.complete)
            assert str(table.get_row_at(0)[0]) == "adapter-099999"

            groups = app.query_one("#groups").root.children
            assert [node.label.plain for node in groups] == ["Base model (4)", "Architecture (4)", "Tag (1)"]

    asyncio.run(scenario())

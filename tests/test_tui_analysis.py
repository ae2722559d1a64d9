"""Merge and compare from the TUI, on two random LoRAs of a tiny Llama (real PEFT files imported
into a real registry): the merge registers a new adapter, compare opens the heatmap."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import peft  # noqa: F401  (a dev dependency: fail loudly if missing)
import pytest
from rich.console import Console
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input, Select, SelectionList, Static

from hubcli.analysis.weights import METRICS
from hubcli.tui.adapter_picker import AdapterPicker
from hubcli.tui.analysis_dialogs import DISTANCE_METRICS, CompareDialog, MergeDialog
from hubcli.tui.app import HubcliApp
from hubcli.tui.commands import ActionsProvider
from hubcli.tui.similarity import SimilarityScreen
from registry import Registry
from tests.test_tui_support import collect_messages, finished_jobs, settle


@pytest.fixture
def loras(registry: Registry, tmp_path: Path) -> Registry:
    from hubcli.testing import tiny_model
    from tests.helpers.tiny_models import ENGINE_OPTIONS
    from tests.test_merge_support import peft_folder, register

    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        register(registry, peft_folder(base, tmp_path / name, seed=seed), name)
    return registry


async def check(pilot: Pilot, *names: str) -> None:
    """Check ``names`` in the open dialog's picker (the table's selection is checked already)."""
    picker = pilot.app.screen.query_one(AdapterPicker)
    await settle(pilot, lambda: picker.loaded)
    selection = picker.query_one(SelectionList)
    for name in names:
        selection.toggle(name)
    await settle(pilot)


def test_the_metrics_offered_are_compares() -> None:
    assert DISTANCE_METRICS == METRICS


def test_merge_two_adapters_into_a_new_one(loras: Registry) -> None:
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(loras)
        async with app.run_test(size=(130, 40), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3 and app.table.selected is not None)
            await pilot.press("ctrl+g")
            assert isinstance(app.screen, MergeDialog)
            await check(pilot, "b")
            app.screen.query_one("#weights", Input).value = "1"
            app.screen.query_one("#name", Input).focus()
            await pilot.press(*"ab", "enter")
            assert isinstance(app.screen, MergeDialog)  # one weight for two adapters: refused
            app.screen.query_one("#weights", Input).value = "0.7,0.3"
            app.screen.query_one("#method", Select).value = "ties"
            app.screen.query_one("#rank", Input).value = "2"
            await pilot.press("enter")
            await settle(pilot, lambda: len(finished_jobs(messages)) == 1, timeout=30)
            job = finished_jobs(messages)[0]
            assert job.state == "done", job.message
            merged = loras.get_adapter("ab")
            assert merged.method_config["r"] == 2 and merged.source_kind == "merge"
            assert job.message.startswith("registered 'ab': merge ties of a (w=0.7), b (w=0.3)")

    asyncio.run(scenario())


def test_compare_opens_the_heatmap(loras: Registry) -> None:
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(loras)
        async with app.run_test(size=(130, 40), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3 and app.table.selected is not None)
            hits = [hit.text async for hit in ActionsProvider(app.screen).discover()]
            assert any("Heatmap" in str(text) for text in hits)
            await pilot.press("ctrl+r")
            assert isinstance(app.screen, CompareDialog)
            await check(pilot, "b", "c")
            app.screen.query_one("#metric", Select).value = "cosine"
            await pilot.click("#confirm")
            await settle(pilot, lambda: isinstance(app.screen, SimilarityScreen), timeout=30)
            screen = app.screen
            assert isinstance(screen, SimilarityScreen)
            assert screen.similarity.rows == screen.similarity.columns == ["a", "b", "c"]
            assert screen.similarity.title == "cosine distance · 3 adapters"
            mean = screen.similarity.views["mean over layers"]
            assert all(mean[i][i] == pytest.approx(0, abs=1e-5) for i in range(3))
            assert mean[0][1] == pytest.approx(mean[1][0]) and mean[0][1] > 0
            console = Console(width=130, record=True, file=io.StringIO())
            console.print(screen.query_one("#heatmap", Static).content)
            drawn = console.export_text()
            assert "mean over layers (1/" in drawn and f"{mean[0][1]:.3f}" in drawn
            await pilot.press("right")
            assert screen.view_name.startswith("layer.0")
            await pilot.press("escape")
            assert finished_jobs(messages)[0].message == "cosine distance · 3 adapters"

    asyncio.run(scenario())


def test_compare_by_cka_between_the_base_and_one_adapter(registry: Registry, tmp_path: Path) -> None:
    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder
    from tests.test_analysis_modules import save_peft_lora
    from tests.test_analysis_representations import save_tiny_base, write_ids

    base = save_tiny_base(tmp_path / "base")
    import_adapter(
        registry, AdapterFolder(save_peft_lora(tmp_path / "strong", seed=1, alpha=64)), name="strong"
    )
    ids = write_ids(tmp_path / "ids.jsonl", 40)
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(130, 40), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 1 and app.table.selected is not None)
            await pilot.press("ctrl+r")
            dialog = app.screen
            assert isinstance(dialog, CompareDialog)
            await check(pilot)  # 'strong' comes checked: it is selected in the table
            dialog.query_one("#kind", Select).value = "cka"
            await settle(pilot)
            assert dialog.query_one("#cka-options").display
            dialog.query_one("#dataset", Input).value = str(ids)
            dialog.query_one("#base", Input).value = str(base)
            await pilot.click("#confirm")
            await settle(pilot, lambda: isinstance(app.screen, SimilarityScreen), timeout=30)
            shown = app.screen.similarity
            assert shown.rows == ["base emb", "base L1", "base L2"]
            assert shown.columns == ["strong emb", "strong L1", "strong L2"]
            [matrix] = shown.views.values()
            assert matrix[0][0] == pytest.approx(1.0, abs=1e-5) and matrix[2][2] < 0.999
            assert shown.scale == (0.0, 1.0) and "40 examples" in shown.title

    asyncio.run(scenario())

"""The eval dialog on a tiny BERT LoRA trained for the test: the job scores the dataset in a
worker, the rows land in the registry and the detail's Evaluations tab shows them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import DataTable, Input

from hubcli.services.training import TrainRequest, train_adapter
from hubcli.train.loop import LoopSettings
from hubcli.tui.app import HubcliApp
from hubcli.tui.eval_dialog import EvalDialog
from registry import Registry
from tests.helpers.text_models import sentiment_rows, write_jsonl, write_tiny_bert
from tests.test_tui_support import collect_messages, finished_jobs, settle


@pytest.fixture
def trained(registry: Registry, tmp_path: Path) -> Path:
    """A LoRA named 'sst' on a tiny BERT; returns its dataset."""
    base = write_tiny_bert(tmp_path / "tiny-bert")
    dataset = write_jsonl(tmp_path / "sentiment.jsonl", sentiment_rows(24))
    settings = LoopSettings(epochs=1, learning_rate=1e-2, batch_size=8, max_steps=1)
    train_adapter(registry, TrainRequest("lora", str(base), str(dataset), "sst", settings=settings))
    return dataset


def test_eval_dialog_stores_rows_and_the_detail_shows_them(registry: Registry, trained: Path) -> None:
    messages: list[Message] = []
    before = len(registry.evaluations(adapter=registry.get_adapter("sst")))

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(130, 40), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.table.selected is not None)
            await pilot.press("ctrl+n")
            dialog = app.screen
            assert isinstance(dialog, EvalDialog)
            dialog.query_one("#dataset", Input).value = str(trained)
            dialog.query_one("#metrics", Input).value = "accuracy"
            dialog.query_one("#limit", Input).focus()
            await pilot.press("1", "2", "enter")
            await settle(pilot, lambda: len(finished_jobs(messages)) == 1, timeout=60)
            job = finished_jobs(messages)[0]
            assert job.state == "done", job.message
            assert job.message.startswith("sst on sentiment.jsonl (n=12): accuracy ")
            stored = registry.evaluations(adapter=registry.get_adapter("sst"))  # training's own, then ours
            assert [(e.metric, e.n, e.dataset) for e in stored[before:]] == [("accuracy", 12, str(trained))]
            table = app.detail.query_one("#evaluations", DataTable)
            await settle(pilot, lambda: table.row_count == len(stored))
            assert [str(c) for c in table.get_row_at(before)[2:5]] == [
                "accuracy",
                f"{stored[-1].value:.4g}",
                "12",
            ]

    asyncio.run(scenario())

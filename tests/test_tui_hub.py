"""The TUI's pull and push dialogs and its Hub screen against the test Hub server
(tests/hub_server.py)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from rich.console import Console
from textual.message import Message
from textual.widgets import Checkbox, Input, Static

from hubcli.tui.app import HubcliApp
from hubcli.tui.dialogs import MessageDialog
from hubcli.tui.hub_dialogs import PullDialog, PushDialog
from hubcli.tui.hub_screen import HubScreen
from registry import Registry
from tests.hub_server import TEST_USER, Fault, HubServer
from tests.test_tui_support import (
    collect_messages,
    finished_jobs,
    register,
    settle,
    table_names,
    write_peft_folder,
)

REPO = f"{TEST_USER}/tui-lora"


def weights_digest(registry: Registry, name: str) -> str:
    files = registry.files(registry.get_adapter(name))
    return next(f.sha256 for f in files if f.role == "weights")


def test_push_the_selected_adapter_then_pull_it_back(
    hub: HubServer, registry: Registry, tmp_path: Path
) -> None:
    register(registry, tmp_path, "solo")
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.table.selected is not None)
            await pilot.press("ctrl+u")
            assert isinstance(app.screen, PushDialog)
            await pilot.press(*REPO, "enter")
            await settle(pilot, lambda: len(finished_jobs(messages)) == 1)
            push = finished_jobs(messages)[0]
            assert push.state == "done", push.message
            assert push.message.startswith(f"pushed solo to {REPO}@main")
            assert [r.repo_id for r in registry.remotes(registry.get_adapter("solo"))] == [REPO]

            await pilot.press("ctrl+l")
            assert isinstance(app.screen, PullDialog)
            await pilot.press(*REPO)
            app.screen.query_one("#name", Input).value = "solo-copy"
            await pilot.press("enter")
            await settle(pilot, lambda: len(finished_jobs(messages)) == 2)
            pull = finished_jobs(messages)[1]
            assert pull.state == "done", pull.message
            assert pull.message.startswith(f"pulled {REPO} @ ")
            assert weights_digest(registry, "solo-copy") == weights_digest(registry, "solo")
            await settle(pilot, lambda: table_names(app) == ["solo", "solo-copy"])

    asyncio.run(scenario())


def test_pulling_a_missing_repository_shows_the_hub_error(hub: HubServer, registry: Registry) -> None:
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 0)
            await pilot.press("ctrl+l", *f"{TEST_USER}/nothing-here")
            app.screen.query_one("#every", Checkbox).value = True
            await pilot.press("enter")
            await settle(pilot, lambda: bool(finished_jobs(messages)))
            assert finished_jobs(messages)[0].state == "failed"
            assert isinstance(app.screen, MessageDialog)
            assert "nothing-here" in app.screen.message
            assert registry.count_adapters() == 0

    asyncio.run(scenario())


def test_hub_screen_searches_shows_files_and_pulls_with_one_key(
    hub: HubServer, registry: Registry, tmp_path: Path
) -> None:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.endpoint)
    folder = write_peft_folder(
        tmp_path / "upload",
        base_model="bert-base-uncased",
        card="---\nlibrary_name: peft\nbase_model: bert-base-uncased\n---\n# sst2\n",
    )
    api.create_repo(REPO)
    api.upload_folder(repo_id=REPO, folder_path=folder)
    api.create_repo(f"{TEST_USER}/tui-model")  # no adapter library: not listed
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(130, 40), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 0)
            await pilot.press("ctrl+b")
            screen = app.screen
            assert isinstance(screen, HubScreen)
            assert "p" not in screen.active_bindings  # nothing to pull yet: not offered
            await pilot.press(*"tui", "enter")
            await settle(pilot, lambda: screen.searched)
            assert [r.id for r in screen.results] == [REPO]
            assert (screen.results[0].library, screen.results[0].base_model) == ("peft", "bert-base-uncased")
            details = screen.query_one("#details", Static)
            await settle(pilot, lambda: "adapter_model.safetensors" in rendered(details))
            assert "adapter_config.json" in rendered(details) and "README.md" in rendered(details)

            assert screen.active_bindings["p"].enabled
            await pilot.press("p")
            await settle(pilot, lambda: len(finished_jobs(messages)) == 1)
            job = finished_jobs(messages)[0]
            assert job.state == "done", job.message
            assert registry.get_adapter("tui-lora").base_model == "bert-base-uncased"
            await pilot.press("escape")
            await settle(pilot, lambda: table_names(app) == ["tui-lora"])

    asyncio.run(scenario())


def rendered(widget: Static) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def test_a_failed_hub_search_shows_the_hub_error(hub: HubServer, registry: Registry) -> None:
    hub.state.faults.append(Fault("/api/models", status=400))

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(130, 40)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 0)
            await pilot.press("ctrl+b", *"lora", "enter")
            await settle(pilot, lambda: isinstance(app.screen, MessageDialog))
            assert "answered HTTP 400" in app.screen.message
            await pilot.press("escape")
            assert isinstance(app.screen, HubScreen) and not app.screen.searched

    asyncio.run(scenario())

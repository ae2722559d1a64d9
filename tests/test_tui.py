"""Pilot tests of the TUI against a real temporary registry."""

from __future__ import annotations

import asyncio
import io
import shutil
import threading
from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, DirectoryTree, Input, Markdown, Static

from hubcli.tui.adapter_table import AdapterTable
from hubcli.tui.add_dialog import AddDialog
from hubcli.tui.app import HubcliApp
from hubcli.tui.commands import ActionsProvider
from hubcli.tui.dialogs import ConfirmDialog, HelpScreen, MessageDialog, TagDialog
from hubcli.tui.groups import GroupTree
from hubcli.tui.job_calls import JobProgress
from hubcli.tui.jobs import JobsPanel
from hubcli.tui.keymap import load_keymap
from hubcli.tui.state import TuiState, load_state
from registry import Registry
from tests.test_tui_support import (
    add_sample_adapters,
    collect_messages,
    finished_jobs,
    register,
    settle,
    table_names,
    write_peft_folder,
)


def test_main_screen_lists_adapters_counts_and_groups(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count is not None)
            assert table_names(app) == ["ner-lora", "qa-bottleneck", "sentiment-lora"]
            assert app.sub_title.endswith("3 adapters")
            assert str(registry.home) in app.sub_title

    asyncio.run(scenario())


def test_filter_as_you_type_queries_in_a_worker_and_groups_narrow(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            await pilot.press("slash", *"lora")
            await settle(pilot, lambda: table_names(app) == ["ner-lora", "sentiment-lora"])
            await pilot.press("backspace", "backspace", "backspace", "backspace", *"prod")
            await settle(pilot, lambda: table_names(app) == ["sentiment-lora"])
            assert app.table.adapter_query.search == "prod"

            await pilot.press(*["backspace"] * 4)  # clear the filter
            await settle(pilot, lambda: len(table_names(app)) == 3)
            tree = app.query_one(GroupTree)
            architecture = next(n for n in tree.root.children if n.label.plain.startswith("Architecture"))
            bottleneck = next(n for n in architecture.children if n.data.value == "bottleneck")
            tree.select_node(bottleneck)
            await settle(pilot, lambda: table_names(app) == ["qa-bottleneck"])
            tree.select_node(tree.root)
            await settle(pilot, lambda: len(table_names(app)) == 3)

    asyncio.run(scenario())


def test_sort_by_key_and_by_clicking_a_header(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            await pilot.press("r")
            await settle(pilot, lambda: table_names(app) == ["sentiment-lora", "qa-bottleneck", "ner-lora"])
            table = app.query_one(AdapterTable)
            x = 1 + sum(column.get_render_width(table) for column in list(table.columns.values())[:3])
            await pilot.click(AdapterTable, offset=(x + 2, 1))  # the "Params" header
            await settle(pilot, lambda: table.adapter_query.sort == "num_parameters")
            assert table_names(app) == ["ner-lora", "sentiment-lora", "qa-bottleneck"]
            assert app.state.sort == "num_parameters" and not app.state.descending

    asyncio.run(scenario())


def test_detail_tabs_show_overview_config_files_evaluations_and_card(
    registry: Registry, tmp_path: Path
) -> None:
    add_sample_adapters(registry, tmp_path)

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            await pilot.press("ctrl+end")
            await settle(pilot, lambda: app.detail.shown == "sentiment-lora")
            await settle(pilot, lambda: "sentiment-lora" in rendered(app, "#overview"))
            assert "prod, sentiment" in rendered(app, "#overview")
            assert '"peft_type": "LORA"' in rendered(app, "#config")
            files = app.query_one("#files", DataTable)
            assert [files.get_row_at(i)[:2] for i in range(files.row_count)] == [
                ["README.md", "card"],
                ["adapter_config.json", "config"],
                ["adapter_model.safetensors", "weights"],
            ]
            evaluations = app.query_one("#evaluations", DataTable)
            assert evaluations.get_row_at(0)[:3] == ["sst2", "validation", "accuracy"]
            assert "sst2 (validation) accuracy ███████████████████████████░░░ 0.91" in rendered(
                app, "#evaluation-bars"
            )
            assert "Trained on **SST-2**" in app.query_one("#card", Markdown).source

            await pilot.press("ctrl+home")
            await settle(pilot, lambda: "ner-lora" in rendered(app, "#overview"))
            assert "No model card" in app.query_one("#card", Markdown).source

    asyncio.run(scenario())


def rendered(app: HubcliApp, selector: str) -> str:
    """The plain text a Static shows (its renderable drawn at a fixed width)."""
    from rich.console import Console

    console = Console(width=120, record=True, file=io.StringIO())
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


def test_remove_asks_for_confirmation_then_removes_in_a_job(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            await pilot.press("f8")
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("escape")  # cancel: nothing happens
            await settle(pilot)
            assert registry.count_adapters() == 3 and not app.jobs

            await pilot.press("delete")
            await pilot.click("#confirm")
            await settle(pilot, lambda: bool(finished_jobs(messages)))
            [job] = finished_jobs(messages)
            assert (job.title, job.state) == ("rm ner-lora", "done")
            assert job.message.startswith("removed 'ner-lora'")
            assert [a.name for a in registry.list_adapters()] == ["qa-bottleneck", "sentiment-lora"]
            await settle(pilot, lambda: app.adapter_count == 2)
            assert table_names(app) == ["qa-bottleneck", "sentiment-lora"]
            jobs = app.query_one(JobsPanel)
            assert [str(c) for c in jobs.get_row_at(0)[2:]] == ["done", job.message]

    asyncio.run(scenario())


def test_tag_dialog_adds_and_removes_tags(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            await pilot.press("ctrl+end", "f3")
            assert isinstance(app.screen, TagDialog)
            await pilot.press(*"eval, v2")
            await pilot.click("#remove")
            await pilot.press(*"prod", "enter")
            await settle(pilot, lambda: bool(finished_jobs(messages)))
            assert finished_jobs(messages)[0].state == "done"
            assert registry.tags(registry.get_adapter("sentiment-lora")) == ["eval", "sentiment", "v2"]
            await settle(pilot, lambda: "eval, sentiment, v2" in [str(c) for c in app.table.get_row_at(2)])
            assert app.table.selected.name == "sentiment-lora"  # the cursor stays on the adapter
            await settle(pilot, lambda: "eval, sentiment, v2" in rendered(app, "#overview"))

    asyncio.run(scenario())


def test_verify_reports_ok_then_a_corrupt_file_in_an_error_dialog(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            await pilot.press("f4")
            await settle(pilot, lambda: len(finished_jobs(messages)) == 1)
            assert finished_jobs(messages)[0].message.startswith("checked 7 files")
            assert not isinstance(app.screen, MessageDialog)

            readme = next(
                f for f in registry.files(registry.get_adapter("sentiment-lora")) if f.role == "card"
            )
            registry.file_path(readme).write_text("tampered")
            await pilot.press("f4")
            await settle(pilot, lambda: len(finished_jobs(messages)) == 2)
            assert isinstance(app.screen, MessageDialog)
            assert app.screen.title_text == "Verify found problems"
            assert f"corrupt {readme.sha256}" in app.screen.message
            await pilot.press("escape")
            assert not isinstance(app.screen, MessageDialog)

    asyncio.run(scenario())


def test_add_from_disk_errors_show_in_a_dialog_and_leave_the_registry_alone(
    registry: Registry, tmp_path: Path
) -> None:
    empty = tmp_path / "not-an-adapter"
    empty.mkdir()
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 0)
            await pilot.press("f2")
            assert isinstance(app.screen, AddDialog)
            app.screen.query_one("#path", Input).value = str(empty)
            await pilot.click("#add")
            await settle(pilot, lambda: bool(finished_jobs(messages)))
            assert finished_jobs(messages)[0].state == "failed"
            assert isinstance(app.screen, MessageDialog)
            assert app.screen.title_text == "Unreadable adapter"
            assert "no adapter_config.json" in app.screen.message
            assert registry.count_adapters() == 0

    asyncio.run(scenario())


def test_an_adapter_removed_behind_the_apps_back_gives_an_error_dialog_not_a_crash(
    registry: Registry, tmp_path: Path
) -> None:
    add_sample_adapters(registry, tmp_path)

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            registry.remove_adapter("ner-lora")  # e.g. `hubcli rm` in another terminal
            await pilot.press("f8")
            await pilot.click("#confirm")
            await settle(pilot, lambda: isinstance(app.screen, MessageDialog))
            assert app.screen.title_text == "Adapter not found"
            assert app.jobs[0].state == "failed"
            assert app.is_running

    asyncio.run(scenario())


def test_add_dialog_imports_every_adapter_of_a_folder_picked_in_the_tree(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "work"
    write_peft_folder(workdir / "downloads" / "alpha", base_model="bert-base-uncased", card="# Alpha\n")
    write_peft_folder(workdir / "downloads" / "beta", base_model="roberta-base")
    monkeypatch.chdir(workdir)
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 0)
            await pilot.press("f2")
            picker = app.screen.query_one(DirectoryTree)
            await settle(pilot, lambda: bool(picker.root.children))
            picker.select_node(next(n for n in picker.root.children if n.data.path.name == "downloads"))
            await settle(pilot, lambda: app.screen.query_one("#path", Input).value.endswith("downloads"))
            await pilot.click("#add")
            await settle(pilot, lambda: bool(finished_jobs(messages)))
            [job] = finished_jobs(messages)
            assert job.state == "done", job.message
            assert job.message == "registered 'alpha'; registered 'beta'"
            assert (job.done, job.total) == (2, 2)
            await settle(pilot, lambda: table_names(app) == ["alpha", "beta"])
            assert app.sub_title.endswith("2 adapters")
            assert [f.role for f in registry.files(registry.get_adapter("alpha"))] == [
                "card",
                "config",
                "weights",
            ]

    asyncio.run(scenario())


def test_add_dialog_imports_an_archive_like_hubcli_add(registry: Registry, tmp_path: Path) -> None:
    """The dialog calls the same adding service as ``hubcli add``: archives unpack, and the
    archive is recorded as the source."""
    write_peft_folder(tmp_path / "packed" / "sentiment", base_model="bert-base-uncased")
    archive = Path(shutil.make_archive(str(tmp_path / "sentiment"), "zip", tmp_path / "packed"))
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 0)
            await pilot.press("f2")
            assert isinstance(app.screen, AddDialog)
            app.screen.query_one("#path", Input).value = str(archive)
            await pilot.click("#add")
            await settle(pilot, lambda: bool(finished_jobs(messages)))
            [job] = finished_jobs(messages)
            assert job.state == "done", job.message
            assert job.message == "registered 'sentiment'"
            await settle(pilot, lambda: table_names(app) == ["sentiment"])
            assert registry.get_adapter("sentiment").source == f"{archive.resolve()}/sentiment"

    asyncio.run(scenario())


def test_a_running_job_can_be_cancelled_from_the_jobs_panel(registry: Registry) -> None:
    gate = threading.Event()
    messages: list[Message] = []

    def slow(progress: JobProgress) -> str:
        progress(0, 2, "first half")
        gate.wait(10)
        progress(1, 2, "second half")
        return "finished"

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), message_hook=collect_messages(messages)) as pilot:
            job = app.start_job("slow", slow)
            while job.message != "first half":
                await pilot.pause()
            app.query_one(JobsPanel).focus()
            await pilot.press("c")
            gate.set()
            await settle(pilot, lambda: bool(finished_jobs(messages)))
            assert (job.state, job.message) == ("cancelled", "cancelled")
            assert not isinstance(app.screen, MessageDialog)

    asyncio.run(scenario())


def test_theme_layout_filter_and_sort_persist_between_runs(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)

    async def first_run() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            tree = app.query_one(GroupTree)
            base_models = next(n for n in tree.root.children if n.label.plain.startswith("Base model"))
            tree.select_node(next(n for n in base_models.children if n.data.value == "bert-base-uncased"))
            await pilot.press("r", "f12", "f6", "f9", "slash", *"lora")
            await settle(pilot, lambda: table_names(app) == ["sentiment-lora"])
            assert app.theme == "textual-light"

    async def second_run() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            assert app.theme == "textual-light"
            assert not app.query_one("#groups").display and not app.query_one("#jobs").display
            assert app.query_one("#detail").display
            assert app.query_one("#filter", Input).value == "lora"
            assert table_names(app) == ["sentiment-lora"]

    asyncio.run(first_run())
    assert load_state(registry.home) == TuiState(
        theme="textual-light",
        filter="lora",
        group_kind="base_model",
        group_value="bert-base-uncased",
        sort="name",
        descending=True,
        show_groups=False,
        show_jobs=False,
    )
    asyncio.run(second_run())


def test_a_broken_state_file_falls_back_to_defaults_value_by_value(tmp_path: Path) -> None:
    (tmp_path / "tui-state.json").write_text('{"theme": "neon", "filter": 7, "descending": true}')
    assert load_state(tmp_path) == TuiState(descending=True)
    (tmp_path / "tui-state.json").write_text("{not json")
    assert load_state(tmp_path) == TuiState()


def test_user_keymap_overrides_keys_and_reports_mistakes(registry: Registry) -> None:
    (registry.home / "tui-keymap.toml").write_text('add = "ctrl+o"\nfly = "f3"\nverify = 3\n')

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32), notifications=True) as pilot:
            await settle(pilot)
            await pilot.press("f2")  # no longer bound
            assert not isinstance(app.screen, AddDialog)
            await pilot.press("ctrl+o")
            assert isinstance(app.screen, AddDialog)
            assert app.keys_for("add") == "ctrl+o"

    asyncio.run(scenario())
    keymap = load_keymap(registry.home, ["add", "verify"])
    assert keymap.keys == {"add": "ctrl+o"}
    assert [p.split(": ", 1)[1] for p in keymap.problems] == [
        "unknown action 'fly' (known: add, verify)",
        "verify must be a non-empty string of keys",
    ]


REMOVE = "Remove: Remove the selected adapter"


def test_palette_offers_only_actions_that_apply_to_the_selection(registry: Registry, tmp_path: Path) -> None:
    async def titles(app: HubcliApp, query: str) -> list[str]:
        provider = ActionsProvider(app.screen)
        return [hit.text async for hit in provider.search(query)]

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 0)
            assert REMOVE not in await titles(app, "remove")
            assert await titles(app, "verify") == ["Verify: Re-hash every stored file and clean up leftovers"]
            register(registry, tmp_path, "solo")
            await pilot.press("f5")
            await settle(pilot, lambda: app.table.selected is not None)
            assert REMOVE in await titles(app, "remove")
            await pilot.press("ctrl+p", *"tag", "enter")
            assert isinstance(app.screen, TagDialog)

    asyncio.run(scenario())


def test_f1_shows_help_for_the_focused_panel_and_f11_maximises_it(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(110, 32)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 3)
            await pilot.press("f1")
            assert isinstance(app.screen, HelpScreen)
            assert app.screen.help_markdown.startswith("## Adapters")
            assert ("s", "Sort") in app.screen.keys and ("f2", "Add") in app.screen.keys
            await pilot.press("escape")
            app.query_one(GroupTree).focus()
            await pilot.press("f1")
            assert app.screen.help_markdown.startswith("## Groups")
            await pilot.press("escape", "f11")
            assert app.screen.maximized is app.query_one(GroupTree)
            await pilot.press("f11")
            assert app.screen.maximized is None

    asyncio.run(scenario())


def test_hubcli_without_arguments_opens_the_tui_on_the_registry(
    cli, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs the real app headless in place of the terminal, and quits once it has drawn."""
    add_sample_adapters(registry, tmp_path)
    seen: list[list[str]] = []
    original_run = HubcliApp.run

    def run_headless(app: HubcliApp) -> None:
        async def look_then_quit(pilot: Pilot) -> None:
            await settle(pilot, lambda: app.adapter_count == 3)
            seen.append(table_names(app))
            app.exit()

        original_run(app, headless=True, size=(120, 40), auto_pilot=look_then_quit)

    monkeypatch.setattr(HubcliApp, "run", run_headless)
    assert cli().exit_code == 0
    assert cli("tui").exit_code == 0
    assert seen == [["ner-lora", "qa-bottleneck", "sentiment-lora"]] * 2

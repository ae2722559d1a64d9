"""The stitch composer against a real registry: the spec follows the picks, hubcli's validator
judges it (column shown), and the recipe is saved as ``hubcli stitch --save`` saves it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static, Tree

from hubcli.tui.actions import ACTIONS_BY_ID
from hubcli.tui.adapter_picker import AdapterPicker
from hubcli.tui.app import HubcliApp
from hubcli.tui.commands import ActionsProvider
from hubcli.tui.composer import ComposerDialog
from registry import Registry
from tests.test_tui_support import add_sample_adapters, collect_messages, finished_jobs, register, settle


async def open_composer(pilot: Pilot) -> ComposerDialog:
    app = pilot.app
    assert isinstance(app, HubcliApp)
    await settle(pilot, lambda: app.adapter_count is not None)
    await pilot.press("ctrl+t")
    dialog = app.screen
    assert isinstance(dialog, ComposerDialog)
    await settle(pilot, lambda: dialog.query_one(AdapterPicker).loaded)
    return dialog


async def pick(pilot: Pilot, list_id: str, label: str) -> None:
    options = pilot.app.screen.query_one(list_id, OptionList)
    options.focus()
    options.highlighted = next(
        i
        for i in range(options.option_count)
        if str(options.get_option_at_index(i).prompt).split()[0] == label
    )
    await pilot.press("enter")
    await settle(pilot)


def shown(dialog: ComposerDialog, widget_id: str) -> str:
    return str(dialog.query_one(widget_id, Static).render())


def test_compose_validate_and_save_a_recipe(registry: Registry, tmp_path: Path) -> None:
    add_sample_adapters(registry, tmp_path)
    messages: list[Message] = []

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(130, 40), message_hook=collect_messages(messages)) as pilot:
            dialog = await open_composer(pilot)
            await pick(pilot, "#blocks", "stack")
            await pick(pilot, "#picker-list", "sentiment-lora")
            assert shown(dialog, "#spec") == "stack(sentiment-lora)"
            await pick(pilot, "#blocks", "fuse")  # into the stack; LoRA cannot be fused
            await pick(pilot, "#picker-list", "ner-lora")
            await pick(pilot, "#picker-list", "sentiment-lora")
            spec = "stack(sentiment-lora, fuse(ner-lora, sentiment-lora))"
            assert shown(dialog, "#spec") == spec
            verdict = shown(dialog, "#verdict").splitlines()
            assert verdict[1] == "architecture 'lora' (adapter 'ner-lora') does not support the 'fuse' block"
            assert verdict[0] == " " * (spec.index("ner-lora") + 1) + "^"

            tree = dialog.query_one("#tree", Tree)
            tree.focus()
            tree.cursor_line = 2  # the fuse block (0: stack, 1: its first adapter)
            await pilot.press("delete")
            await pick(pilot, "#blocks", "average")
            await pick(pilot, "#picker-list", "ner-lora")
            await pick(pilot, "#picker-list", "sentiment-lora")
            dialog.query_one("#tree", Tree).focus()
            await pilot.press("tab")  # to the arguments of the highlighted average block
            assert dialog.focused is dialog.query_one("#args", Input)
            await pilot.press(*"weights=[0.25, 0.75]", "enter")
            await settle(pilot)
            spec = "stack(sentiment-lora, average(ner-lora, sentiment-lora, weights=[0.25, 0.75]))"
            assert shown(dialog, "#spec") == spec
            assert shown(dialog, "#verdict") == "✓ valid composition"

            dialog.query_one("#name", Input).focus()
            await pilot.press(*"blend", "enter")  # the base defaults to the adapters' own
            await settle(pilot, lambda: len(finished_jobs(messages)) == 1)
            job = finished_jobs(messages)[0]
            assert job.state == "done", job.message
            [recipe] = registry.compositions()
            assert (recipe.name, recipe.base_model, recipe.spec) == ("blend", "bert-base-uncased", spec)

    asyncio.run(scenario())


def test_actions_are_offered_only_when_they_apply(registry: Registry, tmp_path: Path) -> None:
    async def offered(app: HubcliApp) -> set[str]:
        return {str(hit.text) async for hit in ActionsProvider(app.screen).discover()}

    async def scenario() -> None:
        app = HubcliApp(registry)
        async with app.run_test(size=(130, 40)) as pilot:
            await settle(pilot, lambda: app.adapter_count == 0)
            hits = await offered(app)
            assert ACTIONS_BY_ID["hub"].description in hits
            for action in ("stitch", "eval", "merge", "compare"):
                assert ACTIONS_BY_ID[action].description not in hits
            await pilot.press("ctrl+t")
            assert not isinstance(app.screen, ComposerDialog)

            register(registry, tmp_path, "only")
            app.action_refresh()
            await settle(pilot, lambda: app.adapter_count == 1 and app.table.selected is not None)
            hits = await offered(app)
            assert {
                ACTIONS_BY_ID[a].description for a in ("stitch", "eval", "compare")
            } <= hits  # CKA: base vs it
            assert ACTIONS_BY_ID["merge"].description not in hits

    asyncio.run(scenario())

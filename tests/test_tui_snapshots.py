"""SVG snapshots of the main screens (pytest-textual-snapshot; update with --snapshot-update).

Everything drawn must be the same on every run and machine: the registry and the adapters'
source folders have relative paths, the adapters' timestamps are pinned, and toasts stay up
(``toasts_stay``) instead of expiring on the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from textual.pilot import Pilot
from textual.widgets import OptionList, SelectionList, TabbedContent

from hubcli.tui.adapter_picker import AdapterPicker
from hubcli.tui.app import HubcliApp
from hubcli.tui.similarity import SimilarityScreen
from registry import Adapter, Registry
from tests.test_tui_support import add_sample_adapters, settle

SIZE = (130, 40)
TOAST_LIFETIME_S = 24 * 3600.0


@pytest.fixture(autouse=True)
def toasts_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A toast (e.g. "compare … done", raised when a job ends) lives ``NOTIFICATION_TIMEOUT``
    seconds of wall-clock time, 5 by default, counted from the moment it is raised. The snapshot
    is taken a few seconds later: about 3 s on an idle machine, 10 s and more with the cores busy
    (xdist, other work), after which the toast was gone and the heatmap snapshot differed. With
    a lifetime of a day, a toast raised before the snapshot is in it, however slow the machine."""
    monkeypatch.setattr(HubcliApp, "NOTIFICATION_TIMEOUT", TOAST_LIFETIME_S)


@pytest.fixture
def fixed_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """Relative paths (from a temporary working directory) so the header reads the same on
    every machine."""
    monkeypatch.chdir(tmp_path)
    registry = Registry(Path("home"))
    add_sample_adapters(registry, Path("src"))
    with registry.engine.begin() as connection:
        pinned = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        connection.execute(update(Adapter).values(created_at=pinned, updated_at=pinned))
    yield registry
    registry.close()


async def ready(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, HubcliApp)
    await settle(pilot, lambda: app.adapter_count == 3 and app.detail.shown is not None)
    await pilot.press("ctrl+end")
    await settle(pilot, lambda: app.detail.shown == "sentiment-lora")


def test_main_screen(snap_compare, fixed_registry: Registry) -> None:
    assert snap_compare(HubcliApp(fixed_registry), terminal_size=SIZE, run_before=ready)


def test_tag_dialog(snap_compare, fixed_registry: Registry) -> None:
    async def open_tag_dialog(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("f3", *"eval")

    assert snap_compare(HubcliApp(fixed_registry), terminal_size=SIZE, run_before=open_tag_dialog)


def test_light_theme_config_tab(snap_compare, fixed_registry: Registry) -> None:
    async def light_config(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("f12", "f6")
        pilot.app.query_one("#detail-tabs", TabbedContent).active = "tab-config"
        await settle(pilot)

    assert snap_compare(HubcliApp(fixed_registry), terminal_size=SIZE, run_before=light_config)


def test_stitch_composer(snap_compare, fixed_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBCLI_LOAD_PLUGINS", "")  # hubcli's own blocks only: installed examples add more

    async def compose_a_tree(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("ctrl+t")
        dialog = pilot.app.screen
        await settle(pilot, lambda: dialog.query_one(AdapterPicker).loaded)
        for list_id, index in (
            ("#blocks", "stack"),
            ("#picker-list", "sentiment-lora"),
            ("#blocks", "fuse"),
            ("#picker-list", "ner-lora"),
            ("#picker-list", "qa-bottleneck"),
        ):
            options = dialog.query_one(list_id, OptionList)
            options.focus()
            options.highlighted = next(
                i
                for i in range(options.option_count)
                if str(options.get_option_at_index(i).prompt).split()[0] == index
            )
            await pilot.press("enter")
            await settle(pilot)

    assert snap_compare(HubcliApp(fixed_registry), terminal_size=SIZE, run_before=compose_a_tree)


def test_similarity_heatmap(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import peft  # noqa: F401  (a dev dependency: fail loudly if missing)

    from hubcli.testing import tiny_model
    from tests.helpers.tiny_models import ENGINE_OPTIONS
    from tests.test_merge_support import peft_folder, register

    monkeypatch.chdir(tmp_path)
    registry = Registry(Path("home"))
    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    for name, seed in (("alpha", 1), ("beta", 2), ("gamma", 3), ("alpha-too", 1)):
        register(registry, peft_folder(base, Path("src") / name, seed=seed), name)

    async def compare_all(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, HubcliApp)
        await settle(pilot, lambda: app.adapter_count == 4 and app.table.selected is not None)
        await pilot.press("ctrl+r")
        picker = app.screen.query_one(AdapterPicker)
        await settle(pilot, lambda: picker.loaded)
        for name in ("beta", "gamma", "alpha-too"):
            picker.query_one(SelectionList).toggle(name)
        await pilot.click("#confirm")
        await settle(pilot, lambda: isinstance(app.screen, SimilarityScreen), timeout=30)
        # The job's "done" toast is raised right after the screen is pushed: draw it before the shot.
        await settle(pilot, lambda: len(app.screen.query("Toast")) == 1)

    try:
        assert snap_compare(HubcliApp(registry), terminal_size=SIZE, run_before=compare_all)
    finally:
        registry.close()

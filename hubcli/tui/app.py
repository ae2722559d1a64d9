"""The hubcli Textual app: layout, bindings, browsing, panels, help, theme and saved state.

Panels own their data loading (table pages, details, group counts run in thread workers); the
registry-changing actions and their jobs live in ``RegistryActions``, the base class. This
class wires them together and refreshes what a finished job may have changed.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from functools import partial
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Input
from textual.worker import Worker, WorkerState

from hubcli.tui.actions import ACTIONS, ACTIONS_BY_ID
from hubcli.tui.adapter_table import TABLE_BINDING_IDS, AdapterQuery, AdapterTable
from hubcli.tui.commands import ActionsProvider
from hubcli.tui.composer import COMPOSER_BINDING_IDS
from hubcli.tui.detail import AdapterDetail
from hubcli.tui.dialogs import Dialog, HelpScreen
from hubcli.tui.groups import Group, GroupTree
from hubcli.tui.hub_screen import HUB_BINDING_IDS
from hubcli.tui.jobs import JOBS_BINDING_IDS, JobsPanel
from hubcli.tui.keymap import load_keymap
from hubcli.tui.queries import GroupCounts, group_counts
from hubcli.tui.registry_actions import JobFinished, RegistryActions
from hubcli.tui.state import THEMES, TuiState, load_state, save_state
from registry import Registry

FILTER_DEBOUNCE_S = 0.06
PANEL_IDS = ("groups", "adapters", "detail", "jobs")
ALWAYS_AVAILABLE = ("quit", "toggle_theme", "help")

APP_HELP = """\
## hubcli

Browse the adapters of your registry, import new ones and manage them.
**Ctrl+P** opens the command palette with every action that applies right now.
"""


def with_group(query: AdapterQuery, group: Group) -> AdapterQuery:
    """``query`` narrowed to ``group`` instead of any group it had."""
    query = replace(query, architecture=None, base_model=None, tag=None)
    if group.kind in ("architecture", "base_model", "tag") and group.value:
        query = replace(query, **{group.kind: group.value})
    return query


class FilterInput(Input):
    HELP: ClassVar[str] = """\
## Filter

Type to filter the table: the text is matched against name, base model, description, task
and tags (case-insensitive). The table follows as you type; **Enter** or **Down** moves to it.
"""


class HubcliApp(RegistryActions):
    """The TUI over one registry; state and keymap live in the registry's home folder."""

    TITLE = "hubcli"
    CSS = """
    #body { height: 1fr; }
    #groups { width: 34; border: round $panel; }
    #main { width: 1fr; }
    #filter { margin: 0 0 0 0; }
    #adapters { height: 1fr; border: round $panel; }
    #detail { height: 45%; border: round $panel; }
    #jobs { height: 7; border: round $panel; }
    #groups:focus, #adapters:focus, #jobs:focus, #detail:focus-within { border: round $accent; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding(action.key, action.id, action.label, id=action.id, show=action.show) for action in ACTIONS
    ]
    COMMANDS = App.COMMANDS | {ActionsProvider}

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        self.home = registry.home
        self.state: TuiState = load_state(self.home)
        self._filter_timer: Timer | None = None
        self.adapter_count: int | None = None
        self.user_keys: dict[str, str] = {}

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        query = with_group(
            AdapterQuery(search=self.state.filter, sort=self.state.sort, descending=self.state.descending),
            Group(self.state.group_kind or None, self.state.group_value or None),
        )
        yield Header()
        with Horizontal(id="body"):
            yield GroupTree(id="groups")
            with Vertical(id="main"):
                yield FilterInput(
                    self.state.filter, placeholder="Filter: name, base model, task, tag …", id="filter"
                )
                yield AdapterTable(self.registry, query, id="adapters")
                yield AdapterDetail(self.registry, id="detail")
        yield JobsPanel(id="jobs")
        yield Footer()

    def on_mount(self) -> None:
        self.theme = self.state.theme
        keymap = load_keymap(
            self.home,
            [a.id for a in ACTIONS]
            + [*TABLE_BINDING_IDS, *JOBS_BINDING_IDS, *HUB_BINDING_IDS, *COMPOSER_BINDING_IDS],
        )
        self.set_keymap(keymap.keys)
        for problem in keymap.problems:
            self.notify(problem, title="Keymap", severity="warning", timeout=10, markup=False)
        self.user_keys = keymap.keys
        for panel, shown in (
            ("groups", self.state.show_groups),
            ("detail", self.state.show_detail),
            ("jobs", self.state.show_jobs),
        ):
            self.query_one(f"#{panel}").display = shown
        self.sub_title = self.registry.display_location
        self.query_one(AdapterTable).focus()
        self.refresh_counts()

    def on_unmount(self) -> None:
        with suppress(OSError):  # a read-only home costs the remembered layout, not a clean exit
            save_state(self.home, self.state)

    @property
    def detail(self) -> AdapterDetail:
        return self.main.query_one(AdapterDetail)

    # -- counts and groups -----------------------------------------------------------------

    def refresh_counts(self) -> None:
        """Header count and side-panel groups, both from aggregate queries, in a worker."""
        self.run_worker(
            lambda: (self.registry.count_adapters(), group_counts(self.registry)),
            thread=True,
            group="counts",
            exclusive=True,
            exit_on_error=False,
            description="count adapters",
        )

    @on(Worker.StateChanged)
    def _counts_arrived(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "counts" and event.state == WorkerState.SUCCESS:
            self._show_counts(*event.worker.result)

    def _show_counts(self, total: int, groups: GroupCounts) -> None:
        self.adapter_count = total
        self.sub_title = f"{self.registry.display_location} · {total:,} adapter{'s' if total != 1 else ''}"
        self.refresh_bindings()  # merge and compare need two adapters
        self.main.query_one(GroupTree).show_counts(groups)

    # -- browsing --------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        """Debounce: one query per pause in typing, not one per key."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE_S, partial(self.apply_filter, event.value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    def apply_filter(self, text: str) -> None:
        self.state.filter = text
        if text.strip() != self.table.adapter_query.search:
            self.table.set_query(replace(self.table.adapter_query, search=text.strip()))

    def on_group_tree_group_chosen(self, event: GroupTree.GroupChosen) -> None:
        group: Group = event.group
        self.state.group_kind, self.state.group_value = group.kind or "", group.value or ""
        self.table.set_query(with_group(self.table.adapter_query, group))

    def on_adapter_table_query_changed(self, event: AdapterTable.QueryChanged) -> None:
        self.state.sort, self.state.descending = event.query.sort, event.query.descending

    @on(DataTable.RowHighlighted, "#adapters")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.detail.show(event.row_key.value)
        self.refresh_bindings()

    def on_adapter_table_loaded(self, event: AdapterTable.Loaded) -> None:
        if event.rows == 0:
            self.detail.show(None)
        self.refresh_bindings()

    def on_job_finished(self, _: JobFinished) -> None:
        self.registry_changed()
        self.detail.show(self.detail.shown)  # new evaluations, tags …

    def registry_changed(self) -> None:
        self.table.reload()
        self.refresh_counts()

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        spec = ACTIONS_BY_ID.get(action)
        if spec is None:
            return True
        if isinstance(self.screen, Dialog) and action not in ALWAYS_AVAILABLE:
            return False
        if spec.needs_selection and self.table.selected is None:
            return None  # shown dimmed in the footer, left out of the palette
        if (self.adapter_count or 0) < spec.needs_adapters:
            return None
        return True

    def action_available(self, action_id: str) -> bool:
        return self.check_action(action_id, ()) is True

    def keys_for(self, action_id: str) -> str:
        return self.user_keys.get(action_id, ACTIONS_BY_ID[action_id].key)

    def action_help(self) -> None:
        widget: Widget | None = self.focused
        help_text = APP_HELP
        while widget is not None:
            if text := getattr(widget, "HELP", None):
                help_text = text
                break
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        keys = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.description and active.enabled:
                keys.append((self.get_key_display(binding), binding.description))
        self.push_screen(HelpScreen(help_text, keys))

    def action_refresh(self) -> None:
        self.registry_changed()
        self.detail.show(self.detail.shown)

    def _toggle(self, panel: str, field: str) -> None:
        widget = self.query_one(f"#{panel}")
        widget.display = not widget.display
        setattr(self.state, field, bool(widget.display))

    def action_toggle_groups(self) -> None:
        self._toggle("groups", "show_groups")

    def action_toggle_detail(self) -> None:
        self._toggle("detail", "show_detail")

    def action_toggle_jobs(self) -> None:
        self._toggle("jobs", "show_jobs")

    def action_maximize(self) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
            return
        widget: Widget | None = self.focused
        while widget is not None and widget.id not in PANEL_IDS:
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        self.screen.maximize(widget or self.table, container=False)

    def action_toggle_theme(self) -> None:
        self.theme = THEMES[1] if self.theme == THEMES[0] else THEMES[0]
        self.state.theme = self.theme

    def action_focus_filter(self) -> None:
        self.query_one(FilterInput).focus()

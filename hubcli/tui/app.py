"""The hubcli Textual app: layout, bindings, and the glue between panels, dialogs and jobs.

Panels own their data loading (table pages, details, group counts run in thread workers);
the app turns dialog answers into jobs (``tasks`` functions in thread workers), shows their
outcome, and refreshes what a change in the registry invalidates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from itertools import count
from pathlib import Path
from time import monotonic
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Input
from textual.worker import Worker, WorkerState

from hubcli.tui import tasks
from hubcli.tui.actions import ACTIONS, ACTIONS_BY_ID
from hubcli.tui.adapter_table import TABLE_BINDING_IDS, AdapterQuery, AdapterTable
from hubcli.tui.add_dialog import AddDialog, AddRequest
from hubcli.tui.commands import ActionsProvider
from hubcli.tui.detail import AdapterDetail
from hubcli.tui.dialogs import (
    ConfirmDialog,
    Dialog,
    HelpScreen,
    MessageDialog,
    TagChange,
    TagDialog,
    error_dialog,
)
from hubcli.tui.groups import Group, GroupTree
from hubcli.tui.hub_dialogs import PullDialog, PullRequest, PushDialog, PushRequest
from hubcli.tui.jobs import Job, JobCancelled, JobsPanel
from hubcli.tui.keymap import load_keymap
from hubcli.tui.queries import GroupCounts, group_counts
from hubcli.tui.state import THEMES, TuiState, load_state, save_state
from registry import Registry, VerifyReport

FILTER_DEBOUNCE_S = 0.06
PROGRESS_INTERVAL_S = 0.1
PANEL_IDS = ("groups", "adapters", "detail", "jobs")
ALWAYS_AVAILABLE = ("quit", "toggle_theme", "help")

APP_HELP = """\
## hubcli

Browse the adapters of your registry, import new ones and manage them.
**Ctrl+P** opens the command palette with every action that applies right now.
"""


class FilterInput(Input):
    HELP: ClassVar[str] = """\
## Filter

Type to filter the table: the text is matched against name, base model, description, task
and tags (case-insensitive). The table follows as you type; **Enter** or **Down** moves to it.
"""


class HubcliApp(App[None]):
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
        Binding(action.key, action.id, action.label, id=action.id, show=action.show)
        for action in ACTIONS
    ]
    COMMANDS = App.COMMANDS | {ActionsProvider}

    class JobFinished(Message):
        """A job ended (done, failed or cancelled); tests and panels may listen for it."""

        def __init__(self, job: Job) -> None:
            super().__init__()
            self.job = job

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry
        self.home = registry.home
        self.state: TuiState = load_state(self.home)
        self.jobs: list[Job] = []
        self._job_ids = count(1)
        self._filter_timer: Timer | None = None
        self.adapter_count: int | None = None

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        query = AdapterQuery(search=self.state.filter, sort=self.state.sort, descending=self.state.descending)
        yield Header()
        with Horizontal(id="body"):
            yield GroupTree(id="groups")
            with Vertical(id="main"):
                yield FilterInput(self.state.filter, placeholder="Filter: name, base model, task, tag …",
                                  id="filter")
                yield AdapterTable(self.registry, query, id="adapters")
                yield AdapterDetail(self.registry, id="detail")
        yield JobsPanel(id="jobs")
        yield Footer()

    def on_mount(self) -> None:
        self.theme = self.state.theme
        keymap = load_keymap(self.home, [a.id for a in ACTIONS] + list(TABLE_BINDING_IDS) + ["cancel_job"])
        self.set_keymap(keymap.keys)
        for problem in keymap.problems:
            self.notify(problem, title="Keymap", severity="warning", timeout=10, markup=False)
        self.user_keys = keymap.keys
        for panel, shown in (("groups", self.state.show_groups), ("detail", self.state.show_detail),
                             ("jobs", self.state.show_jobs)):
            self.query_one(f"#{panel}").display = shown
        self.sub_title = self.registry.display_location
        self.query_one(AdapterTable).focus()
        self.refresh_counts()

    def on_unmount(self) -> None:
        save_state(self.home, self.state)

    @property
    def table(self) -> AdapterTable:
        return self.query_one(AdapterTable)

    @property
    def detail(self) -> AdapterDetail:
        return self.query_one(AdapterDetail)

    # -- counts and groups -----------------------------------------------------------------

    def refresh_counts(self) -> None:
        """Header count and side-panel groups, both from aggregate queries, in a worker."""
        self.run_worker(
            lambda: (self.registry.count_adapters(), group_counts(self.registry)),
            thread=True, group="counts", exclusive=True, exit_on_error=False, description="count adapters",
        )

    def _show_counts(self, total: int, groups: GroupCounts) -> None:
        self.adapter_count = total
        self.sub_title = f"{self.registry.display_location} · {total:,} adapter{'s' if total != 1 else ''}"
        self.query_one(GroupTree).show_counts(groups)

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
        if text.strip() != self.table.query.search:
            self.table.set_query(replace(self.table.query, search=text.strip()))

    def on_group_tree_group_chosen(self, event: GroupTree.GroupChosen) -> None:
        group: Group = event.group
        query = replace(self.table.query, architecture=None, base_model=None, tag=None)
        if group.kind is not None:
            query = replace(query, **{group.kind: group.value})
        self.table.set_query(query)

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

    # -- jobs ------------------------------------------------------------------------------

    def start_job(self, title: str, work: Callable[[tasks.Progress], Any]) -> Job:
        """Run ``work(progress)`` in a thread worker, listed in the jobs panel.

        ``progress`` may be called from any thread (Hub downloads report from their own pool);
        it raises ``JobCancelled`` once the user cancelled, and forwards at most one update per
        ``PROGRESS_INTERVAL_S`` to the screen, besides the last of each stage.
        """
        job = Job(next(self._job_ids), title)
        last_update = [0.0]

        def progress(done: int, total: int | None, what: str) -> None:
            if job.worker is not None and job.worker.is_cancelled:
                raise JobCancelled
            now = monotonic()
            if what == job.message and done != total and now - last_update[0] < PROGRESS_INTERVAL_S:
                return
            last_update[0] = now
            self.call_from_thread(self._job_progress, job, done, total, what)

        self.jobs.append(job)
        self.query_one(JobsPanel).add_job(job)
        job.worker = self.run_worker(partial(work, progress), thread=True, group="jobs",
                                     exit_on_error=False, description=title)
        return job

    def _job_progress(self, job: Job, done: int, total: int | None, what: str) -> None:
        job.done, job.total, job.message = done, total, what
        self.query_one(JobsPanel).refresh_job(job)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        job = next((j for j in self.jobs if j.worker is event.worker), None)
        if job is not None:
            self._job_changed(job, event.worker)
        elif event.state == WorkerState.SUCCESS and event.worker.group == "counts":
            self._show_counts(*event.worker.result)
        elif event.state == WorkerState.ERROR and event.worker.error is not None:
            self.push_screen(error_dialog(event.worker.error))

    def _job_changed(self, job: Job, worker: Worker) -> None:
        if worker.state == WorkerState.SUCCESS:
            result = worker.result
            job.state = "done"
            job.message = tasks.verify_summary(result) if isinstance(result, VerifyReport) else str(result)
            if isinstance(result, VerifyReport) and not result.ok:
                problems = [f"missing {sha}" for sha in result.missing] + [f"corrupt {sha}" for sha in result.corrupt]
                self.push_screen(MessageDialog("Verify found problems", "\n".join([job.message, *problems]),
                                               error=True))
            else:
                self.notify(job.message, title=job.title, markup=False)
            self.registry_changed()
        elif worker.state == WorkerState.ERROR:
            cancelled = isinstance(worker.error, JobCancelled)
            job.state = "cancelled" if cancelled else "failed"
            job.message = "cancelled" if cancelled else getattr(worker.error, "message", str(worker.error))
            if not cancelled and worker.error is not None:
                self.push_screen(error_dialog(worker.error))
            self.registry_changed()
        elif worker.state == WorkerState.CANCELLED:
            job.state, job.message = "cancelled", "cancelled"
        else:
            return
        self.query_one(JobsPanel).refresh_job(job)
        self.post_message(self.JobFinished(job))

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

    def action_add(self) -> None:
        def added(request: AddRequest | None) -> None:
            if request is not None:
                self.start_job(f"add {request.path.name}",
                               partial(tasks.add_from_disk, self.registry, request.path, request.name))

        self.push_screen(AddDialog(Path.cwd()), added)

    def action_remove(self) -> None:
        adapter = self.table.selected
        if adapter is None:
            return
        name = adapter.name

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.start_job(f"rm {name}", partial(tasks.remove, self.registry, name))

        self.push_screen(ConfirmDialog("Remove adapter", f"Remove {name!r} and the files only it uses?",
                                       confirm="Remove"), confirmed)

    def action_tag(self) -> None:
        adapter = self.table.selected
        if adapter is None:
            return
        name = adapter.name

        def changed(change: TagChange | None) -> None:
            if change is not None:
                self.start_job(f"tag {name}",
                               partial(tasks.retag, self.registry, name, change.add, change.remove))

        self.push_screen(TagDialog(name, self.registry.tags(adapter)), changed)

    def action_pull(self) -> None:
        def answered(request: PullRequest | None) -> None:
            if request is not None:
                self.start_job(f"pull {request.repo}", partial(
                    tasks.pull_from_hub, self.registry, request.repo, request.revision, request.name,
                    request.every,
                ))

        self.push_screen(PullDialog(), answered)

    def action_push(self) -> None:
        adapter = self.table.selected
        if adapter is None:
            return
        name = adapter.name

        def answered(request: PushRequest | None) -> None:
            if request is not None:
                self.start_job(f"push {name}", partial(
                    tasks.push_to_hub, self.registry, name, request.repo, request.revision, request.private
                ))

        self.push_screen(PushDialog(name, adapter.format), answered)

    def action_verify(self) -> None:
        self.start_job("verify", partial(tasks.verify, self.registry))

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

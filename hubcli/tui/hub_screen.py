"""The Hub screen: search the Hub for adapters, see a result's metadata and files, pull it
with one key.

Searches and file listings are network calls, so each runs in a thread worker (a newer one
replaces an older one); a failure opens hubcli's error dialog. Pulling posts ``PullAsked`` to
the app, which runs the same pull job as the pull dialog.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from hubcli.formatting import human_count, human_size
from hubcli.hub.search import LIBRARIES, HubAdapter, RepoFile
from hubcli.services import searching
from hubcli.tui.dialogs import Dialog, error_dialog

HUB_BINDING_IDS = ("hub_pull",)
HUB_RESULTS = 50


def metadata(adapter: HubAdapter, files: list[RepoFile] | None) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    modified = adapter.last_modified.strftime("%Y-%m-%d %H:%M") if adapter.last_modified else "-"
    for label, value in (
        ("Repository", adapter.id),
        ("Library", adapter.library or "-"),
        ("Base model", adapter.base_model or "-"),
        ("Downloads", f"{adapter.downloads:,}"),
        ("Likes", str(adapter.likes)),
        ("Modified", modified),
        ("Private", "yes" if adapter.private else "no"),
        ("Tags", ", ".join(adapter.tags) or "-"),
    ):
        grid.add_row(label, Text(value))
    if files is None:
        grid.add_row("Files", Text("loading …", style="dim"))
    else:
        listing = Text("\n").join(
            Text(f"{f.path}  ") + Text(human_size(f.size) if f.size is not None else "?", style="dim")
            for f in files
        )
        grid.add_row("Files", listing if files else Text("(none)", style="dim"))
    return grid


class HubScreen(Dialog[None]):
    DEFAULT_CSS = """
    HubScreen > Vertical { width: 100%; height: 1fr; max-height: 100%; border: none; padding: 0 1; }
    HubScreen #search-row { height: auto; }
    HubScreen #query { width: 1fr; }
    HubScreen #library { width: 24; }
    HubScreen #results-row { height: 1fr; }
    HubScreen #results { width: 3fr; height: 1fr; border: round $panel; }
    HubScreen #results:focus { border: round $accent; }
    HubScreen #about { width: 2fr; border: round $panel; }
    """
    HELP: ClassVar[str] = """\
## Hub

Search the Hub for adapters (PEFT and AdapterHub libraries): type words of the repository id
and press **Enter**; the library filter narrows the search. The highlighted result's metadata
and files show on the right. **p** pulls it into the registry (same job as the pull dialog);
**Escape** goes back.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "dismiss", "Back"),
        Binding("p", "pull", "Pull", id="hub_pull"),
    ]

    class PullAsked(Message):
        def __init__(self, repo_id: str) -> None:
            super().__init__()
            self.repo_id = repo_id

    def __init__(self) -> None:
        super().__init__()
        self.results: list[HubAdapter] = []
        self.searched = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Hub", classes="title")
            with Horizontal(id="search-row"):
                yield Input(placeholder="search adapters on the Hub …", id="query")
                yield Select([(name, name) for name in LIBRARIES], prompt="any library", id="library")
                yield Button("Search", id="search")
            with Horizontal(id="results-row"):
                yield DataTable(id="results", cursor_type="row")
                with VerticalScroll(id="about"):
                    yield Static("Search to list adapters.", id="details")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#results", DataTable).add_columns(
            "Repository", "Library", "Base model", "Downloads", "Likes", "Modified"
        )
        self.query_one("#query", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pull":
            return self.highlighted is not None
        return True

    @property
    def highlighted(self) -> HubAdapter | None:
        table = self.query_one("#results", DataTable)
        if not self.results or table.cursor_row < 0:
            return None
        return self.results[table.cursor_row]

    # -- search ----------------------------------------------------------------------------

    @on(Input.Submitted, "#query")
    @on(Button.Pressed, "#search")
    def search(self) -> None:
        query = self.query_one("#query", Input).value.strip()
        library = self.query_one("#library", Select).value
        chosen = library if isinstance(library, str) else None
        self.query_one("#details", Static).update(Text("searching …", style="dim"))
        self.run_worker(
            lambda: searching.search(searching.SearchRequest(query or None, chosen, limit=HUB_RESULTS)),
            thread=True,
            group="hub-search",
            exclusive=True,
            exit_on_error=False,
            description=f"search the Hub for {query!r}",
        )

    @on(Select.Changed, "#library")
    def _library_changed(self) -> None:
        if self.searched:
            self.search()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker events do not bubble, so this screen reports its own failures."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.query_one("#details", Static).update("")
            self.app.push_screen(error_dialog(event.worker.error))
        if event.state != WorkerState.SUCCESS:
            return
        if event.worker.group == "hub-search":
            self._show_results(event.worker.result)
        elif event.worker.group == "hub-files":
            repo_id, files = event.worker.result
            shown = self.highlighted
            if shown is not None and shown.id == repo_id:
                self.query_one("#details", Static).update(metadata(shown, files))

    def _show_results(self, results: list[HubAdapter]) -> None:
        self.results, self.searched = results, True
        table = self.query_one("#results", DataTable)
        table.clear()
        for a in results:
            modified = a.last_modified.strftime("%Y-%m-%d") if a.last_modified else "-"
            table.add_row(
                a.id,
                a.library or "-",
                a.base_model or "-",
                Text(human_count(a.downloads), justify="right"),
                Text(str(a.likes), justify="right"),
                modified,
            )
        if results:
            table.focus()
        else:
            self.query_one("#details", Static).update(Text("No adapters found.", style="dim"))
        self.refresh_bindings()

    @on(DataTable.RowHighlighted, "#results")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        adapter = self.highlighted
        if adapter is None:
            return
        self.query_one("#details", Static).update(metadata(adapter, None))
        self.run_worker(
            lambda: (adapter.id, searching.repo_files(adapter.id)),
            thread=True,
            group="hub-files",
            exclusive=True,
            exit_on_error=False,
            description=f"list the files of {adapter.id}",
        )

    # -- pull ------------------------------------------------------------------------------

    def action_pull(self) -> None:
        adapter = self.highlighted
        if adapter is not None:
            self.post_message(self.PullAsked(adapter.id))
            self.notify(f"Pulling {adapter.id} (see the jobs panel).", markup=False)

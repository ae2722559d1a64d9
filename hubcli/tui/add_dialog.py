"""The "add from disk" dialog: a path typed or picked in a directory tree, and an optional name.

Its answer is the request of ``hubcli.services.adding``, the same as ``hubcli add PATH --all``:
a folder of adapters imports every one of them.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DirectoryTree, Input, Label

from hubcli.services.adding import AddRequest
from hubcli.tui.dialogs import FormDialog


class AddDialog(FormDialog[AddRequest | None]):
    DEFAULT_CSS = """
    AddDialog > Vertical { width: 90; height: 90%; }
    AddDialog DirectoryTree { height: 1fr; min-height: 4; border: round $secondary; margin-bottom: 1; }
    """
    SUBMIT_ID = "add"

    def __init__(self, start: Path) -> None:
        super().__init__()
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Add an adapter from disk", classes="title")
            yield DirectoryTree(self.start, id="picker")
            yield Label("Folder or archive (an adapter, or a folder of adapters)")
            yield Input(str(self.start), id="path")
            yield Label("Name (optional; default from the files)")
            yield Input(placeholder="e.g. sentiment-lora", id="name")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Add", variant="primary", id="add")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        self.query_one("#path", Input).value = str(event.path)

    def submit(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        if not path:
            self.notify("Type or pick a folder first.", severity="warning")
            return
        name = self.query_one("#name", Input).value.strip() or None
        self.dismiss(AddRequest(Path(path).expanduser(), name, every=True))

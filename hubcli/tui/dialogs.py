"""Modal dialogs: message/error, confirm, tag editing and help.

Each returns its answer through ``dismiss`` (Textual's screen result), so the app decides what
work to start; the dialogs themselves never touch the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, Static

from hubcli.secrets import redact

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """Shared look of hubcli's dialogs (scoped to them, not to Textual's own modal screens)."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical {
        width: 72; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    Dialog .title { text-style: bold; margin-bottom: 1; }
    Dialog .buttons { height: auto; margin-top: 1; align-horizontal: right; }
    Dialog .buttons Button { margin-left: 2; }
    Dialog Input { margin-bottom: 1; }
    MessageDialog.error > Vertical { border: thick $error; }
    """


class FormDialog(Dialog[ResultT]):
    """A dialog of fields with Cancel and one confirming button (id ``SUBMIT_ID``): the button
    or Enter in a field calls ``submit``; Cancel or Escape closes it with None."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]
    SUBMIT_ID: ClassVar[str]

    def submit(self) -> None:
        """Check the fields and ``dismiss`` with the answer (or say what is missing)."""
        raise NotImplementedError

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == self.SUBMIT_ID:
            self.submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.submits_on_enter(event.input):
            self.submit()

    def submits_on_enter(self, field: Input) -> bool:
        """Whether Enter in ``field`` submits (Textual calls every class's message handler,
        so subclasses narrow this instead of overriding the handler)."""
        return True

    def action_cancel(self) -> None:
        self.dismiss(None)


class MessageDialog(Dialog[None]):
    """A message with an OK button; ``error=True`` styles it as an error."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, title: str, message: str, *, error: bool = False) -> None:
        super().__init__(classes="error" if error else "")
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Static(self.message, markup=False, id="message")
            with Horizontal(classes="buttons"):
                yield Button("OK", variant="primary", id="ok")

    def on_button_pressed(self, _: Button.Pressed) -> None:
        self.dismiss()


def error_dialog(exc: BaseException) -> MessageDialog:
    """Typed hubcli/registry errors carry a title and a one-line message; others show their type."""
    title = getattr(exc, "title", None) or f"Unexpected error ({type(exc).__name__})"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return MessageDialog(title, redact(message), error=True)


class ConfirmDialog(Dialog[bool]):
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, message: str, confirm: str = "OK") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Static(self.message, markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.confirm, variant="error", id="confirm")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # a stray Enter must not destroy anything

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


@dataclass(frozen=True)
class TagChange:
    add: list[str]
    remove: list[str]


def split_tags(text: str) -> list[str]:
    return [tag for tag in text.replace(",", " ").split() if tag]


class TagDialog(FormDialog[TagChange | None]):
    """Tags to add and to remove, separated by spaces or commas."""

    SUBMIT_ID = "apply"

    def __init__(self, adapter_name: str, current: list[str]) -> None:
        super().__init__()
        self.adapter_name = adapter_name
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Tags of {self.adapter_name}", classes="title")
            yield Static(f"Now: {', '.join(self.current) or '(none)'}", markup=False)
            yield Label("Add")
            yield Input(placeholder="tags to add", id="add")
            yield Label("Remove")
            yield Input(placeholder="tags to remove", id="remove")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Apply", variant="primary", id="apply")

    def submit(self) -> None:
        change = TagChange(
            add=split_tags(self.query_one("#add", Input).value),
            remove=split_tags(self.query_one("#remove", Input).value),
        )
        self.dismiss(change if change.add or change.remove else None)


class HelpScreen(Dialog[None]):
    """F1: the focused panel's help and the keys that work there."""

    DEFAULT_CSS = "HelpScreen > Vertical { width: 84; }"
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, help_markdown: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.help_markdown = help_markdown
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = "\n".join(f"| `{key}` | {what} |" for key, what in self.keys)
        with Vertical(), VerticalScroll():
            yield Markdown(f"{self.help_markdown}\n\n### Keys\n\n| Key | Action |\n|---|---|\n{table}\n")

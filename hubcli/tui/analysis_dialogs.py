"""Dialogs over several adapters at once: merge them into a new one, or compare them.

Both pick adapters with a check-box ``AdapterPicker`` (the table's selection comes checked).
The merge options are checked by ``hubcli.merge.spec.make_spec`` right here (it needs no
torch), so a wrong weight list is answered before a job starts, as ``hubcli merge`` does.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select

from hubcli.errors import HubcliError
from hubcli.merge.spec import METHODS, MergeSpec, make_spec, parse_weights
from hubcli.tui.adapter_picker import AdapterPicker
from hubcli.tui.dialogs import Dialog
from registry import Registry

ResultT = TypeVar("ResultT")

DISTANCE_METRICS = ("l2", "cosine", "grassmann")
"""``hubcli.analysis.weights.METRICS``, repeated so that opening the dialog imports no torch
(a test keeps the two equal)."""


class PickAdaptersDialog(Dialog[ResultT | None]):
    """Shared frame: a title, the adapter picker, the dialog's own options, two buttons."""

    DEFAULT_CSS = """
    PickAdaptersDialog > Vertical { width: 90; height: 90%; }
    PickAdaptersDialog .options { height: auto; }
    PickAdaptersDialog .options > Vertical { width: 1fr; height: auto; margin-right: 1; }
    """
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]
    TITLE_TEXT = ""
    CONFIRM = ""

    def __init__(self, registry: Registry, selected: str | None) -> None:
        super().__init__()
        self.registry = registry
        self.selected = selected

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.TITLE_TEXT, classes="title")
            yield Label("Adapters (Space checks; the order checked is the order used)")
            yield AdapterPicker(self.registry, multiple=True, preselected=[self.selected] if self.selected else [],
                                id="picker")
            yield from self.options()
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.CONFIRM, variant="primary", id="confirm")

    @abstractmethod
    def options(self) -> ComposeResult:
        """The widgets of the dialog's own options, below the picker."""

    @property
    def chosen(self) -> list[str]:
        return list(self.query_one(AdapterPicker).chosen)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "picker-filter":
            self.submit()

    @abstractmethod
    def submit(self) -> None:
        """Check the answers and dismiss with the request, or say what is missing."""

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class MergeRequest:
    name: str
    sources: list[str]
    spec: MergeSpec


class MergeDialog(PickAdaptersDialog[MergeRequest]):
    TITLE_TEXT = "Merge adapters into a new one"
    CONFIRM = "Merge"

    def options(self) -> ComposeResult:
        with Horizontal(classes="options"):
            with Vertical():
                yield Label("New adapter name")
                yield Input(id="name")
                yield Label("Weights (one per adapter)")
                yield Input(placeholder="e.g. 0.7,0.3 (default: equal)", id="weights")
            with Vertical():
                yield Label("Method")
                yield Select([(m, m) for m in METHODS], value=METHODS[0], allow_blank=False, id="method")
                yield Label("Density (TIES, DARE)")
                yield Input("0.5", type="number", id="density")
                yield Label("Rank (LoRA; default: exact)")
                yield Input(placeholder="e.g. 8", type="integer", id="rank")

    def submit(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.notify("Name the new adapter first.", severity="warning")
            return
        rank = self.query_one("#rank", Input).value.strip()
        try:
            spec = make_spec(
                len(self.chosen),
                method=str(self.query_one("#method", Select).value),
                weights=parse_weights(self.query_one("#weights", Input).value.strip() or None),
                density=float(self.query_one("#density", Input).value or 0.5),
                rank=int(rank) if rank else None,
            )
        except HubcliError as exc:
            self.notify(exc.message, title="Cannot merge", severity="warning", markup=False)
            return
        self.dismiss(MergeRequest(name, self.chosen, spec))


@dataclass(frozen=True)
class CompareRequest:
    names: list[str]
    metric: str


class CompareDialog(PickAdaptersDialog[CompareRequest]):
    TITLE_TEXT = "Compare adapters (weight-space distances)"
    CONFIRM = "Compare"

    def options(self) -> ComposeResult:
        with Horizontal(classes="options"), Vertical():
            yield Label("Metric: l2 (‖ΔW₁−ΔW₂‖), cosine (1 − cosine), grassmann (LoRA subspaces)")
            yield Select([(m, m) for m in DISTANCE_METRICS], value="l2", allow_blank=False, id="metric")

    def submit(self) -> None:
        if len(self.chosen) < 2:
            self.notify("Check at least two adapters.", severity="warning")
            return
        self.dismiss(CompareRequest(self.chosen, str(self.query_one("#metric", Select).value)))

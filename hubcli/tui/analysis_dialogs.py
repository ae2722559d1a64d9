"""Dialogs over several adapters at once: merge them into a new one, or compare them.

Both pick adapters with a check-box ``AdapterPicker`` (the table's selection comes checked).
The merge options are checked by ``hubcli.merge.spec.make_spec`` right here (it needs no
torch), so a wrong weight list is answered before a job starts, as ``hubcli merge`` does.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select

from hubcli.merge.spec import METHODS, MergeSpec, make_spec, parse_weights
from hubcli.plugin_api import HubcliError
from hubcli.tui.adapter_picker import AdapterPicker
from hubcli.tui.dialogs import FormDialog
from registry import Registry

ResultT = TypeVar("ResultT")

DISTANCE_METRICS = ("l2", "cosine", "grassmann")
"""``hubcli.analysis.weights.METRICS``, repeated so that opening the dialog imports no torch
(a test keeps the two equal)."""


class PickAdaptersDialog(FormDialog[ResultT | None]):
    """Shared frame: a title, the adapter picker, the dialog's own options, two buttons."""

    DEFAULT_CSS = """
    PickAdaptersDialog > Vertical { width: 90; height: 90%; }
    PickAdaptersDialog .options { height: auto; }
    PickAdaptersDialog .options > Vertical { width: 1fr; height: auto; margin-right: 1; }
    """
    SUBMIT_ID = "confirm"
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
            yield AdapterPicker(
                self.registry,
                multiple=True,
                preselected=[self.selected] if self.selected else [],
                id="picker",
            )
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

    def submits_on_enter(self, field: Input) -> bool:
        return field.id != "picker-filter"  # Enter in the picker's filter only filters

    @abstractmethod
    def submit(self) -> None:
        """Check the answers and dismiss with the request, or say what is missing."""


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
                yield Label("Rank (LoRA: truncate by SVD; default: the method's)")
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
class CkaRequest:
    base: str
    dataset: Path

    @staticmethod
    def models(names: list[str]) -> tuple[str, str]:
        """Model A and model B: the base against one adapter, or two adapters."""
        return ("base", names[0]) if len(names) == 1 else (names[0], names[1])


@dataclass(frozen=True)
class CompareRequest:
    names: list[str]
    metric: str
    cka: CkaRequest | None = None
    """Set: layer-by-layer CKA on a dataset instead of weight distances."""


COMPARISONS = (
    ("weight distances (two or more adapters)", "weights"),
    ("layer-by-layer CKA on a dataset (base vs one adapter, or two adapters)", "cka"),
)


class CompareDialog(PickAdaptersDialog[CompareRequest]):
    TITLE_TEXT = "Compare adapters"
    CONFIRM = "Compare"
    DEFAULT_CSS = """
    CompareDialog #weight-options, CompareDialog #cka-options { height: auto; }
    CompareDialog #cka-options { display: none; }
    """

    def options(self) -> ComposeResult:
        with Horizontal(classes="options"), Vertical():
            yield Select(COMPARISONS, value="weights", allow_blank=False, id="kind")
            with Vertical(id="weight-options"):
                yield Label("Metric: l2 (‖ΔW₁−ΔW₂‖), cosine (1 − cosine), grassmann (LoRA subspaces)")
                yield Select([(m, m) for m in DISTANCE_METRICS], value="l2", allow_blank=False, id="metric")
            with Vertical(id="cka-options"):
                yield Label(
                    "Dataset (CSV, TSV, JSON, JSONL, Parquet or text file: a text column or input_ids)"
                )
                yield Input(id="dataset")
                yield Label("Base model")
                yield Input(placeholder="default: the adapters'", id="base")

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        cka = event.value == "cka"
        self.query_one("#cka-options").display = cka
        self.query_one("#weight-options").display = not cka

    def submit(self) -> None:
        chosen = self.chosen
        if self.query_one("#kind", Select).value == "weights":
            if len(chosen) < 2:
                self.notify("Check at least two adapters.", severity="warning")
                return
            self.dismiss(CompareRequest(chosen, str(self.query_one("#metric", Select).value)))
            return
        dataset = self.query_one("#dataset", Input).value.strip()
        picker = self.query_one(AdapterPicker)
        bases = [c.base_model for c in picker.chosen.values() if c.base_model]
        base = self.query_one("#base", Input).value.strip() or (bases[0] if bases else "")
        if len(chosen) not in (1, 2):
            self.notify(
                "CKA compares the base with one adapter, or two adapters: check one or two.",
                severity="warning",
            )
        elif not dataset or not base:
            self.notify("CKA needs a dataset and a base model.", severity="warning")
        else:
            self.dismiss(CompareRequest(chosen, "cka", CkaRequest(base, Path(dataset).expanduser())))

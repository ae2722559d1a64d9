"""The similarity screen: pairwise weight-space distances between adapters as a heatmap drawn
in the terminal (coloured cells with their values), the mean over layers first and then one
layer at a time.

Or, for two models on a dataset, layer-by-layer linear CKA (``hubcli compare --cka``).
The matrices arrive computed (``job_calls.compare`` runs in a job); this screen only draws them,
with ``hubcli.analysis.terminal.heatmap``, the table ``hubcli compare`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Label, Static

from hubcli.analysis.terminal import heatmap
from hubcli.tui.dialogs import Dialog

MEAN_VIEW = "mean over layers"


@dataclass(frozen=True)
class Similarity:
    """What the similarity screen draws: one matrix per view (rows × columns), under a title.

    Weight distances: adapters × adapters, the mean over layers first, then each layer.
    CKA: the layers of model A × the layers of model B, one view."""

    title: str
    rows: list[str]
    columns: list[str]
    views: dict[str, list[list[float]]]
    scale: tuple[float, float] | None = None
    """A fixed colour scale (CKA lies in 0–1); None: each matrix's own range."""


class SimilarityScreen(Dialog[None]):
    DEFAULT_CSS = """
    SimilarityScreen > Vertical { width: 100%; height: 1fr; max-height: 100%; border: none; }
    SimilarityScreen #heatmap { width: auto; }
    """
    HELP: ClassVar[str] = """\
## Similarity

Weight distances: pairwise distances between the compared adapters' weight updates (0 on the
diagonal); dark cells are close, light ones far apart; **Left/Right** step from the mean over
layers through the layers one by one. CKA: the similarity (0–1, light is similar) of every
hidden state of one model with every one of the other. **Escape** closes.
"""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("right,n", "step(1)", "Next layer"),
        Binding("left,p", "step(-1)", "Previous layer"),
    ]

    def __init__(self, similarity: Similarity) -> None:
        super().__init__()
        self.similarity = similarity
        self.view = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Similarity · {self.similarity.title}", classes="title", markup=False)
            with VerticalScroll():
                yield Static(id="heatmap")
        yield Footer()

    def on_mount(self) -> None:
        self._draw()

    @property
    def view_name(self) -> str:
        return list(self.similarity.views)[self.view]

    def action_step(self, delta: int) -> None:
        self.view = (self.view + delta) % len(self.similarity.views)
        self._draw()

    def _draw(self) -> None:
        shown = self.similarity
        low, high = shown.scale or (None, None)
        title = f"{self.view_name} ({self.view + 1}/{len(shown.views)})"
        self.query_one("#heatmap", Static).update(
            heatmap(shown.views[self.view_name], shown.rows, shown.columns, title=title, low=low, high=high)
        )

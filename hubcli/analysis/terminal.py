"""Matrices as coloured heatmaps in the terminal (rich tables with a viridis background)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

VIRIDIS = (
    "#440154",
    "#482878",
    "#3e4989",
    "#31688e",
    "#26828e",
    "#1f9e89",
    "#35b779",
    "#6ece58",
    "#b5de2b",
    "#fde725",
)


def colour(value: float, low: float, high: float) -> str:
    """The viridis colour of ``value`` on the scale low → high."""
    share = 0.0 if high <= low else min(1.0, max(0.0, (value - low) / (high - low)))
    return VIRIDIS[round(share * (len(VIRIDIS) - 1))]


def _ink(background: str) -> str:
    """Black on light backgrounds, white on dark ones."""
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else "white"


def heatmap(
    matrix: Sequence[Sequence[float]],
    rows: Sequence[str],
    columns: Sequence[str],
    *,
    title: str,
    low: float | None = None,
    high: float | None = None,
    digits: int = 3,
) -> Table:
    """A table whose cells show the values on a colour scale (default: the matrix's range)."""
    values = [float(v) for row in matrix for v in row]
    low = min(values) if low is None else low
    high = max(values) if high is None else high
    table = Table(title=title, caption=f"colour scale {low:.{digits}g} (dark) → {high:.{digits}g} (light)")
    table.add_column("")
    for name in columns:
        table.add_column(name, justify="right", overflow="fold")
    for name, row in zip(rows, matrix, strict=True):
        cells = []
        for value in row:
            background = colour(float(value), low, high)
            cells.append(Text(f"{float(value):.{digits}f}", style=f"{_ink(background)} on {background}"))
        table.add_row(name, *cells)
    return table

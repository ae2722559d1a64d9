"""Figures (PNG, SVG, PDF: whatever the file's suffix says) for ``hubcli compare``.

matplotlib is optional (``pip install 'hubcli[plots]'``); it is imported here only, with the
non-interactive Agg backend so that plotting works without a display.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hubcli.plugin_api import HubcliError

FORMATS = (".png", ".svg", ".pdf")
ANNOTATE_UP_TO = 16
"""Write the values into the cells of heatmaps up to this many rows and columns."""


def _pyplot(path: Path) -> Any:
    if path.suffix.lower() not in FORMATS:
        raise HubcliError(f"{path}: plots are written as {', '.join(FORMATS)} (by the file's suffix)")
    try:
        import matplotlib
    except ImportError:
        raise HubcliError("plots need matplotlib: pip install 'hubcli[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _heatmap(
    axes: Any,
    matrix: torch.Tensor,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    cmap: str,
    limits: tuple[float, float] | None = None,
) -> Any:
    low, high = limits or (float(matrix.min()), float(matrix.max()))
    image = axes.imshow(matrix.numpy(), cmap=cmap, aspect="auto", vmin=low, vmax=high)
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_title(title)
    if len(rows) <= ANNOTATE_UP_TO and len(columns) <= ANNOTATE_UP_TO:
        for i in range(len(rows)):
            for j in range(len(columns)):
                value = float(matrix[i, j])
                red, green, blue, _ = image.cmap(image.norm(value))
                ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.55 else "white"
                axes.text(j, i, f"{value:.2f}", ha="center", va="center", color=ink, fontsize=8)
    return image


def _label_points(axes: Any, names: Sequence[str], coords: torch.Tensor) -> None:
    """Name every point; labels of points that (nearly) coincide are stacked, not overprinted."""
    span = float((coords.max(0).values - coords.min(0).values).max()) or 1.0
    placed: list[torch.Tensor] = []
    for name, point in zip(names, coords, strict=True):
        crowd = sum(1 for other in placed if float(torch.linalg.norm(other - point)) < 0.04 * span)
        placed.append(point)
        axes.annotate(
            name,
            (float(point[0]), float(point[1])),
            textcoords="offset points",
            xytext=(6, 4 - 11 * crowd),
            fontsize=9,
        )


def plot_distances(
    path: Path,
    names: Sequence[str],
    matrix: torch.Tensor,
    coords: torch.Tensor,
    explained: torch.Tensor,
    *,
    metric: str,
    per_layer: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """The mean distance heatmap beside the 2-D map, and (optionally) one heatmap per layer."""
    plt = _pyplot(path)
    extra = len(per_layer or {})
    columns = 4 if extra > 4 else max(extra, 1)
    extra_rows = math.ceil(extra / columns) if extra else 0
    figure = plt.figure(figsize=(12, 5.5 + 3.6 * extra_rows), layout="constrained")
    grid = figure.add_gridspec(1 + extra_rows, 2 * columns, height_ratios=[1.6] + [1] * extra_rows)
    heat = figure.add_subplot(grid[0, :columns])
    image = _heatmap(heat, matrix, names, names, f"{metric} distance (mean over layers)", "viridis_r")
    figure.colorbar(image, ax=heat, shrink=0.8)
    scatter = figure.add_subplot(grid[0, columns:])
    scatter.scatter(coords[:, 0].numpy(), coords[:, 1].numpy(), s=40, color="#31688e")
    _label_points(scatter, names, coords)
    scatter.margins(0.2)
    scatter.set_xlabel(f"axis 1 ({float(explained[0]):.0%} of variance)")
    scatter.set_ylabel(f"axis 2 ({float(explained[1]):.0%} of variance)")
    scatter.set_title("map of the adapters (classical MDS of the distances)")
    scatter.grid(alpha=0.3)
    low, high = float(matrix.min()), float(matrix.max())
    for index, (layer, layer_matrix) in enumerate((per_layer or {}).items()):
        axes = figure.add_subplot(
            grid[1 + index // columns, 2 * (index % columns) : 2 * (index % columns) + 2]
        )
        limits = (min(low, float(layer_matrix.min())), max(high, float(layer_matrix.max())))
        _heatmap(axes, layer_matrix, names, names, layer, "viridis_r", limits)
    figure.savefig(path, dpi=150)
    plt.close(figure)


def plot_cka(
    path: Path,
    matrix: torch.Tensor,
    rows: Sequence[str],
    columns: Sequence[str],
    diagonal: Mapping[str, float],
    *,
    name_a: str,
    name_b: str,
) -> None:
    """The layer × layer CKA heatmap (model A down, model B across) and CKA by depth."""
    plt = _pyplot(path)
    figure, (heat, line) = plt.subplots(1, 2, figsize=(12, 5.5), layout="constrained", width_ratios=[1.3, 1])
    image = _heatmap(heat, matrix, rows, columns, "linear CKA per pair of layers", "magma", (0.0, 1.0))
    heat.set_ylabel(name_a)
    heat.set_xlabel(name_b)
    heat.invert_yaxis()
    figure.colorbar(image, ax=heat, shrink=0.8)
    line.plot(list(diagonal), list(diagonal.values()), marker="o", color="#b63679")
    line.set_ylim(0, 1.02)
    line.set_title(f"same depth: {name_a} vs {name_b}")
    line.set_ylabel("linear CKA")
    line.set_xlabel("hidden state")
    line.grid(alpha=0.3)
    figure.savefig(path, dpi=150)
    plt.close(figure)

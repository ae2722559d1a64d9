"""The 2-D map (classical MDS) and the terminal heatmap."""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from hubcli.analysis.maps import classical_mds
from hubcli.analysis.terminal import colour, heatmap


def test_mds_recovers_planar_points() -> None:
    points = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 1.0], [3.0, 1.5], [-1.0, 2.0]], dtype=torch.float64)
    coords, explained = classical_mds(torch.cdist(points, points))
    torch.testing.assert_close(torch.cdist(coords, coords), torch.cdist(points, points))
    assert float(explained.sum()) == pytest.approx(1.0)
    assert explained[0] > explained[1] > 0


def test_mds_of_two_adapters_and_of_identical_ones() -> None:
    coords, explained = classical_mds(torch.tensor([[0.0, 2.0], [2.0, 0.0]]))
    assert float(torch.linalg.norm(coords[0] - coords[1])) == pytest.approx(2.0)
    assert explained.tolist() == pytest.approx([1.0, 0.0])
    assert classical_mds(torch.zeros(3, 3))[0].abs().max() == 0


def test_terminal_heatmap_colours_by_value() -> None:
    assert colour(0.0, 0.0, 1.0) == "#440154" and colour(1.0, 0.0, 1.0) == "#fde725"
    console = Console(record=True, width=80, color_system="truecolor")
    console.print(heatmap([[0.0, 0.5], [0.5, 0.0]], ["a", "b"], ["a", "b"], title="demo"))
    text = " ".join(console.export_text(clear=False).split())
    assert "demo" in text and "0.500" in text and "colour scale 0 (dark) → 0.5 (light)" in text
    assert "#fde725" in console.export_html(inline_styles=True).lower()

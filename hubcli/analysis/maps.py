"""A 2-D map of adapters from their distance matrix (classical multidimensional scaling).

For Euclidean distances (L2 between task vectors) classical MDS is exactly PCA of the task
vectors, as in the seed study's map; for the other metrics it is the closest Euclidean picture.
"""

from __future__ import annotations

import torch


def classical_mds(distances: torch.Tensor, dims: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates [N, dims] whose Euclidean distances best match ``distances``, and the share
    of the (positive) spectrum each axis explains. Axes are signed so that the largest
    coordinate of each is positive, making maps reproducible."""
    squared = distances.to(torch.float64) ** 2
    n = squared.shape[0]
    centring = torch.eye(n, dtype=torch.float64) - 1.0 / n
    gram = -0.5 * centring @ squared @ centring
    values, vectors = torch.linalg.eigh((gram + gram.T) / 2)
    values, vectors = values.flip(0).clamp_min(0), vectors.flip(1)
    coords = torch.zeros(n, dims, dtype=torch.float64)
    used = min(dims, n)
    coords[:, :used] = vectors[:, :used] * values[:used].sqrt()
    for axis in range(used):
        if coords[coords[:, axis].abs().argmax(), axis] < 0:
            coords[:, axis] = -coords[:, axis]
    total = float(values.sum())
    explained = torch.zeros(dims, dtype=torch.float64)
    if total > 0:
        explained[:used] = values[:used] / total
    return coords, explained

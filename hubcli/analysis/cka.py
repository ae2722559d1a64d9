"""Linear centred kernel alignment (CKA) between representations, full-batch and minibatch.

Full batch (Kornblith et al. 2019), X and Y with n rows (examples), columns centred:
CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F).

Minibatch (Nguyen et al. 2021): keep, over batches, the sums of the *unbiased* HSIC estimator
(Song et al. 2012) of every pair of Gram matrices, and return
mean HSIC₁(K, L) / √(mean HSIC₁(K, K) · mean HSIC₁(L, L)). Memory is one batch's Gram matrices
whatever the dataset's size, and the estimate converges to the population CKA, which the
full-batch value approaches too as n grows (the full-batch estimator is biased by O(1/n)).
Arithmetic in float64: HSIC subtracts terms of similar size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hubcli.plugin_api import HubcliError

MIN_BATCH = 4
"""The unbiased HSIC estimator divides by n(n−3): batches need at least four examples."""


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Full-batch linear CKA between x [n, d₁] and y [n, d₂]."""
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    cross = torch.linalg.norm(y.T @ x) ** 2
    return float(cross / (torch.linalg.norm(x.T @ x) * torch.linalg.norm(y.T @ y)))


def _grams(representations: Sequence[torch.Tensor]) -> torch.Tensor:
    """[L, n, n] Gram matrices with zeroed diagonals (K̃ of the unbiased estimator)."""
    flat = [r.to(torch.float64).reshape(r.shape[0], -1) for r in representations]
    grams = torch.stack([f @ f.T for f in flat])
    grams.diagonal(dim1=1, dim2=2).zero_()
    return grams


def unbiased_hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:  # noqa: E741 - the paper's name
    """HSIC₁ between every Gram of ``k`` [A, n, n] and every Gram of ``l`` [B, n, n] → [A, B]
    (diagonals already zero):
    [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))."""
    n = k.shape[-1]
    trace = k.reshape(k.shape[0], -1) @ l.reshape(l.shape[0], -1).T
    row_k, row_l = k.sum(-1), l.sum(-1)
    total_k, total_l = row_k.sum(-1), row_l.sum(-1)
    middle = total_k[:, None] * total_l[None, :] / ((n - 1) * (n - 2))
    last = 2 / (n - 2) * (row_k @ row_l.T)
    return (trace + middle - last) / (n * (n - 3))


class MinibatchCka:
    """Linear CKA between every representation of side A and every one of side B (e.g. all
    layers of two models), accumulated batch by batch."""

    def __init__(self) -> None:
        self.cross: torch.Tensor | None = None
        self.self_a: torch.Tensor | None = None
        self.self_b: torch.Tensor | None = None
        self.batches = 0
        self.examples = 0

    def update(self, side_a: Sequence[torch.Tensor], side_b: Sequence[torch.Tensor]) -> bool:
        """Add one batch: ``side_a[i]`` and ``side_b[j]`` are [n, …] for the same n examples.
        Returns False (and adds nothing) for batches too small for the estimator."""
        n = side_a[0].shape[0]
        if n < MIN_BATCH:
            return False
        k, l = _grams(side_a), _grams(side_b)  # noqa: E741
        cross = unbiased_hsic(k, l)
        self_a = torch.stack([unbiased_hsic(g[None], g[None])[0, 0] for g in k])
        self_b = torch.stack([unbiased_hsic(g[None], g[None])[0, 0] for g in l])
        if self.cross is None:
            self.cross, self.self_a, self.self_b = cross, self_a, self_b
        else:
            self.cross += cross
            self.self_a += self_a
            self.self_b += self_b
        self.batches += 1
        self.examples += n
        return True

    def result(self) -> torch.Tensor:
        """[A, B] CKA values (means over batches cancel in the ratio)."""
        if self.cross is None:
            raise HubcliError(f"no batch of at least {MIN_BATCH} examples was seen")
        return self.cross / (self.self_a[:, None] * self.self_b[None, :]).clamp_min(1e-300).sqrt()

"""Per-row low-rank products for multi-adapter batches (the BGMV idea of Punica / S-LoRA).

When every row of a batch names its own LoRA, looping over the distinct adapters with masked
copies costs one pass per adapter (PEFT's mixed batch: 30× the base model with 64 adapters).
Instead the factors of all N adapters at a projection are stacked once — A as [N+1, R, in],
s·B as [N+1, out, R], ranks zero-padded to the largest R, entry N all zeros for rows without an
adapter — and each row gathers its own pair: two batched matmuls whatever N is.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch

from hubcli.engine.slots import LeafAdapter

_stacks: weakref.WeakKeyDictionary[object, tuple[tuple, tuple[torch.Tensor, torch.Tensor]]] = (
    weakref.WeakKeyDictionary()
)
"""Owner (a slot) → (key, stacked factors): rebuilt only when the adapters or weights change."""


Factors = tuple[torch.Tensor, torch.Tensor, float]
"""A [r, in], B [out, r] and the scaling s of one adapter (``LeafAdapter.low_rank_factors``)."""


def _stack(factors: Sequence[Factors | None], like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    present = [f for f in factors if f is not None]
    rank = max(a.shape[0] for a, _, _ in present)
    d_in, d_out = present[0][0].shape[1], present[0][1].shape[0]
    stacked_a = like.new_zeros(len(factors) + 1, rank, d_in)
    stacked_b = like.new_zeros(len(factors) + 1, d_out, rank)
    for number, factor in enumerate(factors):
        if factor is not None:
            a, b, scaling = factor
            stacked_a[number, : a.shape[0]] = a
            stacked_b[number, :, : b.shape[1]] = b * scaling
    return stacked_a, stacked_b


def stacked_factors(
    adapters: Sequence[LeafAdapter | None], like: torch.Tensor, owner: object
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The [N+1, R, in] and [N+1, out, R] stacks of ``adapters`` (None entries: no adapter),
    or None when one of them is not a plain low-rank update."""
    factors = []
    for adapter in adapters:
        factor = None if adapter is None else adapter.low_rank_factors()
        if adapter is not None and factor is None:
            return None
        factors.append(factor)
    if all(f is None for f in factors):
        return None
    tensors = [t for f in factors if f is not None for t in f[:2]]
    if any(t.requires_grad for t in tensors):  # training: no cache, keep the graph
        return _stack(factors, like)
    layout = tuple(None if f is None else f[2] for f in factors)
    key = (like.dtype, like.device, tuple((id(t), t._version) for t in tensors), layout)
    cached = _stacks.get(owner)
    if cached is None or cached[0] != key:
        cached = (key, _stack(factors, like))
        _stacks[owner] = cached
    return cached[1]


def gathered_low_rank(
    adapters: Sequence[LeafAdapter | None], rows: torch.Tensor, x: torch.Tensor, cache: object
) -> torch.Tensor | None:
    """Σ over rows of adapter ``rows[i]``'s s·B·A·x for row i (-1: zero), as one tensor shaped
    like the projection's output; None when the adapters have no low-rank form."""
    stacks = stacked_factors(adapters, x, cache)
    if stacks is None:
        return None
    stacked_a, stacked_b = stacks
    index = torch.where(rows < 0, torch.full_like(rows, len(adapters)), rows)
    tokens = x if x.dim() == 3 else x.unsqueeze(1)
    low = torch.bmm(tokens, stacked_a.index_select(0, index).transpose(1, 2))
    delta = torch.bmm(low, stacked_b.index_select(0, index).transpose(1, 2))
    return delta if x.dim() == 3 else delta.squeeze(1)

"""Per-row low-rank products for multi-adapter batches (the BGMV idea of Punica / S-LoRA).

When every row of a batch names its own LoRA, looping over the distinct adapters with masked
copies costs one pass per adapter (PEFT's mixed batch: 30× the base model with 64 adapters).
Instead the factors of all N adapters at a projection are stacked once — A as [N+1, R, in],
s·B as [N+1, out, R], ranks zero-padded to the largest R, entry N all zeros for rows without an
adapter — and each row gathers its own pair: two batched matmuls whatever N is.

The stacks are kept per projection and rebuilt only when the adapters there or their weights
change (a new module, or a tensor modified in place), so a forward pass pays for the gather and
the two matmuls, not for walking N adapter modules.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from hubcli.engine.slots import AdapterSlot
from hubcli.plugin_api import LowRankUpdate


@dataclass
class _Stacks:
    modules: tuple[int, ...]
    """Identity of the slot's adapter modules when built (attach/detach rebuilds)."""
    tensors: list[torch.Tensor]
    versions: list[int]
    stacked: tuple[torch.Tensor, torch.Tensor] | None
    """None: some adapter has no low-rank form (the caller groups rows instead)."""

    def current(self, modules: tuple[int, ...]) -> bool:
        return modules == self.modules and [t._version for t in self.tensors] == self.versions


_stacks: weakref.WeakKeyDictionary[AdapterSlot, dict[tuple, _Stacks]] = weakref.WeakKeyDictionary()


def _stack(factors: Sequence[LowRankUpdate | None], like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    present = [f for f in factors if f is not None]
    rank = max(f.rank for f in present)
    d_out, d_in = present[0].shape
    stacked_a = like.new_zeros(len(factors) + 1, rank, d_in)
    stacked_b = like.new_zeros(len(factors) + 1, d_out, rank)
    for number, factor in enumerate(factors):
        if factor is not None:
            stacked_a[number, : factor.rank] = factor.A
            stacked_b[number, :, : factor.rank] = factor.B * factor.scaling
    return stacked_a, stacked_b


def _build(
    slot: AdapterSlot, names: Sequence[str | None], like: torch.Tensor, modules: tuple[int, ...]
) -> _Stacks:
    factors: list[LowRankUpdate | None] = []
    for name in names:
        adapter = slot.adapters[name] if name is not None and name in slot.adapters else None
        factor = None if adapter is None else adapter.low_rank_factors()
        if adapter is not None and factor is None:
            return _Stacks(modules, [], [], None)
        factors.append(factor)
    tensors = [t for f in factors if f is not None for t in (f.A, f.B)]
    stacked = _stack(factors, like) if tensors else None
    return _Stacks(modules, tensors, [t._version for t in tensors], stacked)


def stacked_factors(
    slot: AdapterSlot, names: Sequence[str | None], like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The [N+1, R, in] and [N+1, out, R] stacks of the adapters ``names`` at ``slot`` (None
    entries, or names without a module there: no adapter), or None when one of them is not a
    plain low-rank update or none has a module here."""
    modules = tuple(map(id, slot.adapters.values()))
    if torch.is_grad_enabled() and any(p.requires_grad for p in slot.adapters.parameters()):
        return _build(slot, names, like, modules).stacked  # training: no cache, keep the graph
    per_slot = _stacks.setdefault(slot, {})
    key = (tuple(names), like.dtype, like.device)
    entry = per_slot.get(key)
    if entry is None or not entry.current(modules):
        entry = per_slot[key] = _build(slot, names, like, modules)
    return entry.stacked


def gathered_low_rank(
    slot: AdapterSlot, names: Sequence[str | None], rows: torch.Tensor, x: torch.Tensor
) -> torch.Tensor | None:
    """Adapter ``names[rows[i]]``'s s·B·A·x for row i (-1: zero), as one tensor shaped like the
    projection's output; None when the adapters have no low-rank form."""
    stacks = stacked_factors(slot, names, x)
    if stacks is None:
        return None
    stacked_a, stacked_b = stacks
    index = torch.where(rows < 0, torch.full_like(rows, len(names)), rows)
    tokens = x if x.dim() == 3 else x.unsqueeze(1)
    low = torch.bmm(tokens, stacked_a.index_select(0, index).transpose(1, 2))
    delta = torch.bmm(low, stacked_b.index_select(0, index).transpose(1, 2))
    return delta if x.dim() == 3 else delta.squeeze(1)

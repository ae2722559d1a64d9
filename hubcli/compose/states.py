"""The concrete ``Routed`` states: what flows through a composition at a wrapped projection
(``LeafState``), at a bottleneck sub-block (``BlockState``) and at a task head (``HeadState``).

They differ in what "applying an adapter" and "mixing" mean, and in nothing else:

- at a projection the base output is computed once; an adapter rewrites it (LoRA adds s·B·A·x,
  IA³ scales it), and ``mix`` mixes what the children *changed* (y + Σ wᵢ(yᵢ − y)), so the base
  output is never scaled: with weights summing to 1 this is Σ wᵢ yᵢ;
- at a sub-block an adapter maps the running hidden state to its output (``BlockAdapter.
  transform``) and ``mix`` mixes those outputs (Σ wᵢ oᵢ); the last adapter that ran closes the
  sub-block (``finish``), as ``adapters`` does with the last adapter's post-forward;
- at a head an adapter's head copy replaces the output (the last one in a stack wins).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from hubcli.engine.blocks import BlockSlot
from hubcli.engine.slots import AdapterSlot
from hubcli.plugin_api import BATCH, Child, CompositionError, HeadRouted, Routed, SubBlockRouted
from hubcli.plugin_api.torch_modules import SubBlock


def _cut(tensor: torch.Tensor, axis: int, start: int, length: int) -> torch.Tensor:
    return tensor.narrow(axis, start, length)


def _put(whole: torch.Tensor, parts: Sequence[torch.Tensor], rows: Sequence[torch.Tensor]) -> torch.Tensor:
    out = whole.clone()
    for part, where in zip(parts, rows, strict=True):
        out = out.index_copy(0, where, part.to(out.dtype))
    return out


def _weighted(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    total = tensors[0] * weights[0]
    for tensor, weight in zip(tensors[1:], weights[1:], strict=True):
        total = total + tensor * weight
    return total


@lru_cache(maxsize=256)
def _row_index(values: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """One index tensor per (rows, device): a per-row batch touches every adapted projection,
    and copying the same small index to the accelerator at each one would cost a transfer."""
    return torch.tensor(values, dtype=torch.long, device=device)


class _TensorRows(Routed):
    """Row-index helpers shared by the states (all keep their tensors on one device)."""

    @abstractmethod
    def _device(self) -> torch.device: ...

    def row_index(self, values: Sequence[int]) -> torch.Tensor:
        return _row_index(tuple(values), self._device())


@dataclass
class LeafState(_TensorRows):
    """A projection's input ``x`` and current output ``y`` at ``slot``."""

    slot: AdapterSlot
    x: torch.Tensor
    y: torch.Tensor

    def _device(self) -> torch.device:
        return self.y.device

    def size(self, axis: int) -> int:
        return self.y.shape[axis]

    def narrow(self, axis: int, start: int, length: int) -> LeafState:
        return replace(self, x=_cut(self.x, axis, start, length), y=_cut(self.y, axis, start, length))

    def join(self, parts: Sequence[Routed], axis: int) -> LeafState:
        leaves = [_as(part, LeafState) for part in parts]
        return replace(
            self, x=torch.cat([p.x for p in leaves], axis), y=torch.cat([p.y for p in leaves], axis)
        )

    def mix(self, parts: Sequence[Routed], weights: Sequence[float]) -> LeafState:
        deltas = [_as(part, LeafState).y - self.y for part in parts]
        return replace(self, y=self.y + _weighted(deltas, weights))

    def take(self, rows: torch.Tensor) -> LeafState:
        return replace(self, x=self.x.index_select(0, rows), y=self.y.index_select(0, rows))

    def put(self, parts: Sequence[Routed], rows: Sequence[torch.Tensor]) -> LeafState:
        return replace(self, y=_put(self.y, [_as(p, LeafState).y for p in parts], rows))

    def apply(self, name: str) -> LeafState:
        """Adapter ``name``'s change at this projection (none when it has no module here or
        is merged into the base weights)."""
        adapter = self.slot.adapters[name] if name in self.slot.adapters else None  # noqa: SIM401 (ModuleDict has no get)
        if adapter is None or name in self.slot.merged:
            return self
        x, y = self.x, self.y
        adapted = adapter.adapt_input(x)
        if adapted is not x:  # IA³ on a feed-forward input: the base sees the scaled input
            y = y + self.slot.base(adapted) - self.slot.base(x)
        return replace(self, x=adapted, y=adapter.adapt_output(adapted, y, self.slot.base))

    def gathered(self, children: Sequence[Child], rows: Any) -> LeafState | None:
        from hubcli.compose.gathered import gathered_low_rank

        names = [child.name if child.present else None for child in children]
        if any(child.present and child.name is None for child in children):
            return None  # a block below: no single low-rank update per row
        if self.slot.merged and any(name in self.slot.merged for name in names):
            return None
        delta = gathered_low_rank(self.slot, names, rows, self.x)
        return None if delta is None else replace(self, y=self.y + delta.to(self.y.dtype))


@dataclass
class BlockState(_TensorRows, SubBlockRouted):
    """A sub-block's running hidden state, its stock parts (``block``) and the last adapter
    that ran (it closes the sub-block)."""

    slot: BlockSlot
    hidden: torch.Tensor
    block: SubBlock
    last: str | None = None

    def _device(self) -> torch.device:
        return self.hidden.device

    def size(self, axis: int) -> int:
        return self.hidden.shape[axis]

    def _with(self, hidden: torch.Tensor, h: torch.Tensor, x: torch.Tensor, last: str | None) -> BlockState:
        return BlockState(self.slot, hidden, SubBlock(h=h, x=x, norm=self.block.norm), last)

    def narrow(self, axis: int, start: int, length: int) -> BlockState:
        return self._with(
            _cut(self.hidden, axis, start, length),
            _cut(self.block.h, axis, start, length),
            _cut(self.block.x, axis, start, length),
            self.last,
        )

    def _last_of(self, parts: Sequence[BlockState]) -> str | None:
        names = [p.last for p in parts if p.last is not None]
        return names[-1] if names else self.last

    def join(self, parts: Sequence[Routed], axis: int) -> BlockState:
        blocks = [_as(part, BlockState) for part in parts]
        return self._with(
            torch.cat([p.hidden for p in blocks], axis),
            torch.cat([p.block.h for p in blocks], axis),
            torch.cat([p.block.x for p in blocks], axis),
            self._last_of(blocks),
        )

    def mix(self, parts: Sequence[Routed], weights: Sequence[float]) -> BlockState:
        blocks = [_as(part, BlockState) for part in parts]
        return replace(
            self, hidden=_weighted([p.hidden for p in blocks], weights), last=self._last_of(blocks)
        )

    def take(self, rows: torch.Tensor) -> BlockState:
        pick = lambda t: t.index_select(0, rows)  # noqa: E731
        return self._with(pick(self.hidden), pick(self.block.h), pick(self.block.x), self.last)

    def put(self, parts: Sequence[Routed], rows: Sequence[torch.Tensor]) -> BlockState:
        blocks = [_as(part, BlockState) for part in parts]
        hidden = _put(self.hidden, [p.hidden for p in blocks], rows)
        return replace(self, hidden=hidden, last=self._last_of(blocks))

    def with_hidden(self, hidden: torch.Tensor, last: str) -> BlockState:
        return replace(self, hidden=hidden, last=last)

    def apply(self, name: str) -> BlockState:
        if name not in self.slot.adapters:
            return self
        return replace(self, hidden=self.slot.adapters[name].transform(self.hidden, self.block), last=name)


@dataclass
class HeadState(_TensorRows, HeadRouted):
    """A head's input ``features`` and its output so far (None: no head chosen yet)."""

    copies: nn.ModuleDict
    features: torch.Tensor
    out: torch.Tensor | None

    def _device(self) -> torch.device:
        return self.features.device

    def size(self, axis: int) -> int:
        return self.features.shape[axis]

    def narrow(self, axis: int, start: int, length: int) -> HeadState:
        if axis != BATCH and self.features.dim() < 3:
            raise CompositionError("split cannot pick heads for a sequence-level head (its input is pooled)")
        out = None if self.out is None else _cut(self.out, axis, start, length)
        return replace(self, features=_cut(self.features, axis, start, length), out=out)

    def _outs(self, parts: Sequence[Routed]) -> list[torch.Tensor]:
        outs = [_as(part, HeadState).out for part in parts]
        if any(out is None for out in outs):
            raise CompositionError("some children of the composition have a head and others do not")
        return outs  # type: ignore[return-value]

    def join(self, parts: Sequence[Routed], axis: int) -> HeadState:
        features = torch.cat([_as(p, HeadState).features for p in parts], axis)
        return replace(self, features=features, out=torch.cat(self._outs(parts), axis))

    def mix(self, parts: Sequence[Routed], weights: Sequence[float]) -> HeadState:
        return replace(self, out=_weighted(self._outs(parts), weights))

    def take(self, rows: torch.Tensor) -> HeadState:
        out = None if self.out is None else self.out.index_select(0, rows)
        return replace(self, features=self.features.index_select(0, rows), out=out)

    def put(self, parts: Sequence[Routed], rows: Sequence[torch.Tensor]) -> HeadState:
        outs = self._outs(parts)
        if self.out is None:
            raise CompositionError("some rows of the composition have a head and others do not")
        return replace(self, out=_put(self.out, outs, rows))

    def with_out(self, out: torch.Tensor) -> HeadState:
        return replace(self, out=out)

    def apply(self, name: str) -> HeadState:
        if name not in self.copies:
            return self
        return replace(self, out=self.copies[name](self.features))


def _as(part: Routed, kind: type) -> Any:
    if not isinstance(part, kind):
        raise TypeError(f"a block mixed a {type(part).__name__} into a {kind.__name__}")
    return part

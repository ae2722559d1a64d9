"""What composition blocks route: the ``Routed`` interface and the helpers blocks share.

A block never sees tensors directly. It sees a ``Routed`` state — whatever flows through one
insertion point: a projection's input and output (LoRA, IA³), a sub-block's hidden state
(bottleneck adapters) or a head's features — and cuts, joins and mixes it through these
methods. That is the single routing mechanism: the same ``split`` code runs at a LoRA
projection and at a bottleneck sub-block. Concrete states live in ``hubcli.compose.states``;
this module imports no torch, so block plugins stay cheap to import.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hubcli.plugin_api.errors import CompositionError

if TYPE_CHECKING:
    import torch

    from hubcli.plugin_api.model import SubBlockSlot
    from hubcli.plugin_api.torch_modules import SubBlock

BATCH = 0
"""The batch axis of every tensor in a ``Routed`` state."""
SEQUENCE = 1
"""The sequence axis (where there is one)."""


class Routed(ABC):
    """The state at one insertion point. Every tensor in it has the batch on axis 0 and (where
    there is one) the sequence on axis 1, so that cutting and joining act on all of them."""

    @abstractmethod
    def apply(self, name: str) -> Routed:
        """This state after adapter ``name`` (unchanged when the adapter has no module here).
        The setup calls it at the leaves of the tree; blocks call their children instead."""

    @abstractmethod
    def size(self, axis: int) -> int:
        """Length along ``axis`` (``BATCH`` or ``SEQUENCE``)."""

    @abstractmethod
    def narrow(self, axis: int, start: int, length: int) -> Routed:
        """The part ``start:start+length`` along ``axis``."""

    @abstractmethod
    def join(self, parts: Sequence[Routed], axis: int) -> Routed:
        """The parts (as cut by ``narrow``, then routed) put back together along ``axis``."""

    @abstractmethod
    def mix(self, parts: Sequence[Routed], weights: Sequence[float]) -> Routed:
        """Σ wᵢ partᵢ of routed copies of this state (the weights are used as given)."""

    @abstractmethod
    def take(self, rows: Any) -> Routed:
        """The rows at the positions of the integer tensor ``rows``."""

    @abstractmethod
    def put(self, parts: Sequence[Routed], rows: Sequence[Any]) -> Routed:
        """This state with ``parts[i]`` written back at ``rows[i]`` (as given to ``take``)."""

    @abstractmethod
    def row_index(self, values: Sequence[int]) -> Any:
        """``values`` as an integer tensor next to this state's tensors."""

    def gathered(self, children: Sequence[Child], rows: Any) -> Routed | None:
        """Per-row routing done in one pass (row i through ``children[rows[i]]``, -1: none),
        or None when this state has no such fast path for these children."""
        return None


class SubBlockRouted(Routed):
    """The state at a bottleneck sub-block: what a block that works on the adapters' own
    sub-block modules (``fuse``) reads. ``slot`` holds those modules by adapter name, ``hidden``
    is the running hidden state, ``block`` the sub-block's stock parts (``SubBlock``)."""

    slot: SubBlockSlot
    hidden: torch.Tensor
    block: SubBlock

    @abstractmethod
    def with_hidden(self, hidden: torch.Tensor, last: str) -> SubBlockRouted:
        """This state with the running hidden state ``hidden``, as after adapter ``last`` ran
        (it closes the sub-block)."""


class HeadRouted(Routed):
    """The state at a task head: its input ``features`` and its output so far (None: no head
    chosen yet)."""

    features: torch.Tensor
    out: torch.Tensor | None

    @abstractmethod
    def with_out(self, out: torch.Tensor) -> HeadRouted:
        """This state with the head output ``out``."""


class ActiveComposition(Protocol):
    """A composition activated on a model, as a block's own helpers see it: ``owned`` holds,
    per block of the tree, what its plugin's ``build`` made (``CompositionPlugin.build``)."""

    owned: dict[int, Any]


@dataclass(frozen=True)
class Child:
    """One child of a block, ready to run: ``child(state)`` routes ``state`` through it.

    ``name`` is the adapter's name when the child is an adapter (fast paths need it), None for a
    block. ``present`` is False when nothing below the child has a module at this insertion
    point: the child is then the identity and blocks may skip it."""

    name: str | None
    present: bool
    run: Callable[[Routed], Routed]

    def __call__(self, state: Routed) -> Routed:
        return self.run(state) if self.present else state


def route_pieces(
    state: Routed, children: Sequence[Child], sizes: Sequence[int], axis: int, what: str
) -> Routed:
    """Cut ``state`` along ``axis`` into consecutive pieces of ``sizes``; piece i goes through
    child i. ``what`` names the block for the error when the sizes do not add up."""
    total = state.size(axis)
    if sum(sizes) != total:
        dimension = "batch size" if axis == BATCH else "sequence length"
        raise CompositionError(
            f"{what}: sizes {list(sizes)} add up to {sum(sizes)}, but the {dimension} is {total}"
        )
    parts = []
    start = 0
    for child, size in zip(children, sizes, strict=True):
        parts.append(child(state.narrow(axis, start, size)))
        start += size
    return state.join(parts, axis)


def route_rows(state: Routed, children: Sequence[Child], rows: Sequence[int], what: str) -> Routed:
    """Row i through ``children[rows[i]]`` (-1: through none), rows in any order.

    States with a gathered fast path (LoRA projections: one batched low-rank product whatever
    the number of distinct adapters) take it; otherwise rows are grouped per child — one
    ``take``/``put`` per distinct child, never a masked pass over the whole batch."""
    batch = state.size(BATCH)
    if len(rows) != batch:
        raise CompositionError(f"{what}: {len(rows)} row assignments for a batch of {batch} rows")
    if rows[0] >= 0 and rows.count(rows[0]) == batch:  # one adapter for the whole batch
        return children[rows[0]](state)
    index = state.row_index(rows)
    fast = state.gathered(children, index)
    if fast is not None:
        return fast
    parts, positions = [], []
    for number, child in enumerate(children):
        if not child.present or number not in rows:
            continue
        where = state.row_index([i for i, row in enumerate(rows) if row == number])
        parts.append(child(state.take(where)))
        positions.append(where)
    return state.put(parts, positions) if parts else state

"""``sum(a, b, …)``: every child sees the same input and their changes are added, unnormalised.

At a projection a child's change is ``yᵢ − y``, so the block gives ``y + Σ (yᵢ − y)``: for LoRAs,
``W x + Σ ΔWᵢ x``, what PEFT computes with several adapters active at once. At a bottleneck
sub-block the children's outputs are added as they are (``Routed.mix`` with weights of one).
The block is written against the public contract only (``hubcli.plugin_api`` and the
``Routed`` interface): it never touches a tensor, which is why it runs at every kind of
insertion point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubcli.plugin_api import CompositionPlugin

if TYPE_CHECKING:
    from hubcli.plugin_api import Child, Routed

__all__ = ["SumBlock"]


class SumBlock(CompositionPlugin):
    name = "sum"
    description = "Σ of the children's changes, unnormalised (PEFT's several active LoRAs)"
    api_version = 2
    min_children = 2
    supported_like = "average"
    """The block asks of its children what ``average`` asks (``Routed.mix``), so every
    architecture that takes part in ``average`` takes part in ``sum``."""

    def route(self, state: Routed, children: Sequence[Child], args: Mapping[str, Any], owned: Any) -> Routed:
        return state.mix([child(state) for child in children], [1.0] * len(children))

"""The modules the engine puts into a model, and the seam where compositions plug in.

An ``AdapterSlot`` replaces one leaf module (a projection: ``nn.Linear`` or GPT-2's
``Conv1D``). It keeps the original module as ``base`` and a ``ModuleDict`` of named
``LeafAdapter``s (``hubcli.plugin_api.torch_modules``), one per attached adapter that touches
this leaf, and asks the model's ``ActiveSetup`` how to combine them. Wrapping leaves instead of re-implementing a layer's forward
is what keeps the engine independent of the transformers version: the stock forward calls the
slot exactly where it called the projection.

``HeadSlot`` does the same for task heads (PEFT ``modules_to_save``): it keeps the base head and
one copy per adapter, and runs the copy of the active adapter.

The composition engine replaces ``ActiveSetup`` with a tree-aware setup
(``hubcli.compose.setup``) that implements the same methods (``active_in``, ``leaf_forward``,
``block_forward`` for block slots, ``head_forward`` for heads); slots and adapters stay as they
are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hubcli.plugin_api import HubcliError


class ActiveSetup:
    """Which attached adapters run, in which order: a flat stack, the default setup.

    At a leaf, every active adapter adapts the input in order, the base runs once, then every
    active adapter adapts the output in order — so stacked LoRAs add their deltas
    (W + ΔW₁ + ΔW₂), as docs/engine.md states.
    """

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names: tuple[str, ...] = tuple(names)

    def active_in(self, available: Mapping[str, Any]) -> list[str]:
        """The active names among ``available``, in activation order."""
        return [name for name in self.names if name in available]

    def leaf_forward(self, slot: AdapterSlot, x: torch.Tensor) -> torch.Tensor:
        names = [name for name in self.active_in(slot.adapters) if name not in slot.merged]
        adapters = [slot.adapters[name] for name in names]
        for adapter in adapters:
            x = adapter.adapt_input(x)
        y = slot.base(x)
        for adapter in adapters:
            y = adapter.adapt_output(x, y, slot.base)
        return y

    def block_forward(self, slot: Any, block: Any) -> Any:
        """A ``BlockSlot``'s active adapters stacked in order (``adapters``' Stack), the last
        one closing the sub-block; None when none is active (see ``hubcli.engine.blocks``)."""
        names = self.active_in(slot.adapters)
        if not names:
            return None
        hidden = block.h
        for name in names:
            hidden = slot.adapters[name].transform(hidden, block)
        return slot.adapters[names[-1]].finish(hidden, block)

    def head_forward(
        self, copies: Mapping[str, nn.Module], default: nn.Module, *args: Any, **kwargs: Any
    ) -> Any:
        """Run the head: the copy of the last active adapter that has one, else ``default``."""
        names = self.active_in(copies)
        return (copies[names[-1]] if names else default)(*args, **kwargs)


class AdapterSlot(nn.Module):
    """A leaf module wrapped so that named adapters can act on it."""

    def __init__(self, base: nn.Module, setup: ActiveSetup) -> None:
        super().__init__()
        self.base = base
        self.adapters = nn.ModuleDict()
        self.merged: list[str] = []
        """Adapters folded into ``base``'s weights, in merge order (they no longer run)."""
        self.setup = setup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.setup.leaf_forward(self, x)

    def merge(self, name: str) -> None:
        self.adapters[name].merge(self.base)
        self.merged.append(name)

    def unmerge(self, name: str) -> None:
        if not self.merged or self.merged[-1] != name:
            raise HubcliError(
                f"unmerge {name!r}: adapters merged later must be unmerged first ({self.merged})"
            )
        self.adapters[name].unmerge(self.base)
        self.merged.pop()


class HeadSlot(nn.Module):
    """A task head with one replacement per adapter (PEFT ``modules_to_save``)."""

    def __init__(self, base: nn.Module, setup: ActiveSetup) -> None:
        super().__init__()
        self.base = base
        self.copies = nn.ModuleDict()
        self.setup = setup

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.setup.head_forward(self.copies, self.base, *args, **kwargs)

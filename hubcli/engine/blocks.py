"""Block-level insertion: adapters that act on a whole sub-block of a transformer layer (the
attention block or the feed-forward block), as bottleneck adapters do.

Such an adapter needs three things the stock forward never hands out together: the sub-block's
output ``h`` (its output projection's result, before the residual add), the residual stream
``x`` entering the sub-block, and, in post-LN families (BERT), the LayerNorm that closes the
sub-block, ``norm(h + x)``. We collect them with forward hooks on stock modules named by the
family plugin's ``InsertionPoints`` — the layer (its input is the attention block's residual),
the output projections ``o`` and ``ffn_out`` (through their ``AdapterSlot``, so a LoRA on the
same projection is already applied to ``h``), and the closing norms — and never copy a forward:

- post-LN: the hook on the closing norm replaces ``norm(h + x)`` by what the adapters return;
  its result is also the residual entering the feed-forward block.
- pre-LN (GPT-2, Llama): the layer adds the residual itself (``x + h``), so the hook on the
  output projection returns ``h'`` with ``x + h'`` equal to the adapters' block output. When the
  adapters keep the residual add open (the usual case) ``h'`` is exact; when they close the
  block themselves we return ``out − x`` (one rounding). The feed-forward residual is
  ``x + h'`` of the attention block, which is what the layer computes.

Hidden states are taken at the projection output: dropout between projection and residual add
(BERT, GPT-2) is the identity at inference, which is what the engine runs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hubcli.plugin_api import ModelMismatchError
from hubcli.plugin_api.torch_modules import POSITIONS, BlockOutput, SubBlock


class BlockSlot(nn.Module):
    """The named block adapters at one sub-block, run through the model's active setup."""

    def __init__(self, setup: Any) -> None:
        super().__init__()
        self.adapters = nn.ModuleDict()
        self.setup = setup

    def run(self, h: torch.Tensor, x: torch.Tensor, norm: nn.Module | None) -> BlockOutput | None:
        """What the active setup makes of this sub-block (a stack of the active adapters by
        default, a composition tree under ``hubcli.compose``); None when no adapter runs."""
        return self.setup.block_forward(self, SubBlock(h=h, x=x, norm=norm))


class _LayerTaps:
    """Per-layer state the hooks pass to each other during one forward call; emptied after the
    layer's last sub-block, so that no activation outlives the call through these references."""

    def __init__(self) -> None:
        self.x: dict[str, torch.Tensor] = {}
        self.h: dict[str, torch.Tensor] = {}


def _first_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def install(target: Any, layer_index: int) -> tuple[dict[str, BlockSlot], list[str]]:
    """Create the attention and feed-forward ``BlockSlot`` of layer ``layer_index`` of ``target``
    (a ``StitchedModel``) and the hooks that feed them; returns the slots and the paths of the
    projection slots that carry hooks (the model must keep those wrapped even when no leaf
    adapter is left in them). The block slots become children of the layer module
    (``attention_adapters`` / ``output_adapters``, the names ``adapters`` uses), so they follow
    the model to a device or dtype. The hooks stay for the model's lifetime; with no block
    adapter active they only look up the active names."""
    points = target.family.points
    layer_path = target.layer_paths()[layer_index]
    layer = target.model.get_submodule(layer_path)
    projections = {"attention": points.o, "ffn": points.ffn_out}
    post_ln = target.family.layer_norm == "post"
    norms = {"attention": points.attention_output_norm, "ffn": points.ffn_output_norm}
    if post_ln and not all(norms.values()):
        raise ModelMismatchError(
            f"family {target.family.name!r} is post-LN but names no closing LayerNorm for its sub-blocks"
        )
    taps = _LayerTaps()
    setup = target.slot(f"{layer_path}.{projections['attention']}").setup
    slots: dict[str, BlockSlot] = {}
    for position in POSITIONS:
        slots[position] = BlockSlot(setup)
        layer.add_module(
            "attention_adapters" if position == "attention" else "output_adapters", slots[position]
        )

    def layer_input(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        taps.x["attention"] = _first_input(args, kwargs)

    layer.register_forward_pre_hook(layer_input, with_kwargs=True)
    hooked = [f"{layer_path}.{projections[position]}" for position in POSITIONS]
    for position, following, path in zip(POSITIONS, (*POSITIONS[1:], None), hooked, strict=True):
        projection = target.slot(path)
        if post_ln:
            projection.register_forward_hook(_record_h(taps, position))
            norm = target.model.get_submodule(f"{layer_path}.{norms[position]}")
            norm.register_forward_hook(_close_post_ln(taps, position, following, slots[position]))
        else:
            projection.register_forward_hook(_adapt_pre_ln(taps, position, following, slots[position]))
    return slots, hooked


def _record_h(taps: _LayerTaps, position: str) -> Any:
    def hook(_module: nn.Module, _args: tuple[Any, ...], output: torch.Tensor) -> None:
        taps.h[position] = output

    return hook


def _close_post_ln(taps: _LayerTaps, position: str, following: str | None, slot: BlockSlot) -> Any:
    """Hook on the closing LayerNorm: swap ``norm(h + x)`` for the adapters' output."""

    def hook(norm: nn.Module, _args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        result = slot.run(taps.h.pop(position), taps.x[position], norm)
        if result is not None:
            # norm.forward, not norm(...): calling the module would run this hook again
            output = result.value if result.closed else norm.forward(result.value + taps.x[position])
        if following:
            taps.x[following] = output
        else:
            taps.x.clear()
        return output

    return hook


def _adapt_pre_ln(taps: _LayerTaps, position: str, following: str | None, slot: BlockSlot) -> Any:
    """Hook on the output projection: return ``h'`` such that the layer's ``x + h'`` is the
    adapters' block output."""

    def hook(_module: nn.Module, _args: tuple[Any, ...], h: torch.Tensor) -> torch.Tensor:
        x = taps.x[position]
        result = slot.run(h, x, None)
        if result is not None:
            h = result.value - x if result.closed else result.value
        if following:
            taps.x[following] = x + h
        else:
            taps.x.clear()
        return h

    return hook

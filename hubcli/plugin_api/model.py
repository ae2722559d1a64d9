"""The model side of the contract: where adapters go in a family's models, the sizes they
must agree with, and what the engine offers an architecture while it attaches an adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from hubcli.plugin_api.kinds import ModelFamilyPlugin
    from hubcli.plugin_api.torch_modules import InputAdapter


@dataclass(frozen=True)
class InsertionPoints:
    """Where adapters go in a stock ``transformers`` model, as dotted module paths.

    ``layers`` and ``word_embeddings`` are relative to the backbone (``model.base_model``);
    every other path is relative to one element of the layer list. ``None`` means the family
    has no such module (e.g. GPT-2 has no separate q/k/v: ``qkv`` names its fused projection,
    whose output is [q | k | v] along the last dimension). Naming modules, never copying
    forward code, is what keeps hubcli independent of the transformers version.
    """

    layers: str
    word_embeddings: str
    q: str | None
    k: str | None
    v: str | None
    o: str
    ffn_in: tuple[str, ...]
    ffn_out: str
    attention: str
    """The attention module (receives ``past_key_values``; prefix tuning works through it)."""
    attention_output_norm: str | None
    """Post-LN families: the LayerNorm after the attention output projection (residual inside)."""
    ffn_output_norm: str | None
    """Post-LN families: the LayerNorm after the FFN output projection (residual inside)."""
    qkv: str | None = None
    heads: tuple[str, ...] = ("classifier", "score")
    """Top-level module names of task heads (relative to the full model)."""


@dataclass(frozen=True)
class ModelDims:
    """The sizes adapters must agree with."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int


class LeafSlot(Protocol):
    """A leaf module of the model (a projection) wrapped so that adapters can act on it
    (``AttachTarget.slot``). An architecture puts its ``LeafAdapter`` (from
    ``hubcli.plugin_api.torch_modules``) into ``adapters`` under the adapter's name."""

    base: torch.nn.Module
    """The original module, whose weights ``merge`` changes in place."""
    adapters: torch.nn.ModuleDict
    """Adapter name → its ``LeafAdapter`` at this leaf."""
    merged: list[str]
    """Adapters folded into ``base``'s weights, in merge order (they no longer run)."""

    def merge(self, name: str) -> None:
        """Fold adapter ``name`` into ``base`` (its ``LeafAdapter.merge``)."""

    def unmerge(self, name: str) -> None:
        """Undo the last ``merge``; adapters merged later must be unmerged first."""


class SubBlockSlot(Protocol):
    """One sub-block ("attention" or "ffn") of a transformer layer (``AttachTarget.block``): an
    architecture puts its ``BlockAdapter`` into ``adapters`` under the adapter's name."""

    adapters: torch.nn.ModuleDict
    """Adapter name → its ``BlockAdapter`` at this sub-block."""


class AttachTarget(Protocol):
    """What the engine offers an architecture plugin while it attaches an adapter.

    Implemented by ``hubcli.engine.stitched.StitchedModel``; see docs/engine.md.
    """

    model: torch.nn.Module
    family: ModelFamilyPlugin
    dims: ModelDims

    def module(self, path: str) -> torch.nn.Module:
        """The module at ``path`` of the full model; ``ModelMismatchError`` if absent."""

    def layer_paths(self) -> list[str]:
        """Full-model paths of the transformer layers, in order."""

    def slot(self, path: str) -> LeafSlot:
        """The slot wrapping the leaf module at ``path`` (created on first use)."""

    def add_input_adapter(self, name: str, adapter: InputAdapter) -> None:
        """Register a module that rewrites the model's inputs (prompt / prefix)."""

    def block(self, layer: int, position: str) -> SubBlockSlot:
        """The slot of sub-block ``position`` ("attention" or "ffn") of layer ``layer``
        (index into ``layer_paths()``): where bottleneck-style adapters go."""

    def add_head(self, name: str, path: str, state: Mapping[str, torch.Tensor]) -> None:
        """Give adapter ``name`` its own copy of the head at ``path`` with weights ``state``."""

    def slots_of(self, name: str) -> list[LeafSlot]:
        """Every slot that holds a module of adapter ``name``."""

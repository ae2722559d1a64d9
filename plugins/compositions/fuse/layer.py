"""AdapterFusion (Pfeiffer et al. 2021) at bottleneck sub-blocks, with ``adapters`` 1.3.0's maths.

At a sub-block where every fused adapter has a module: the last fused adapter's pre-forward
gives z (LN(h + x) for the usual ``original_ln_before``) and the residual r; every child's
bottleneck gives uⱼ = fⱼ(z); then q = Wq·z (or the pre-LN input with ``query_before_ln``),
kⱼ = Wk·uⱼ, vⱼ = Wv·uⱼ, a = softmax_j(q·kⱼ) (no 1/√d), and the sub-block continues with
Σ aⱼ·vⱼ + r, closed by the last adapter (LN(· + x)). ``static`` fusion has no value matrix.
uⱼ is taken before a bottleneck's gate (``use_gating``), as ``adapters`` does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hubcli.plugin_api import CompositionError, SubBlockRouted
from hubcli.plugin_api.formats.fusion import FusionSettings


class FusionLayer(nn.Module):
    """The attention over the fused adapters' outputs at one sub-block (``adapters``' BertFusion,
    same parameter names, so its saved weights load as they are)."""

    def __init__(self, hidden: int, config: FusionSettings) -> None:
        super().__init__()
        self.config = config
        if config.temperature:
            raise CompositionError("fusion with temperature annealing (temperature=true) is not supported")
        if config.query:
            self.query = _bert_init(nn.Linear(hidden, hidden))
        if config.key:
            self.key = _bert_init(nn.Linear(hidden, hidden))
        if config.value:
            self.value = _bert_init(nn.Linear(hidden, hidden, bias=False))
            if config.value_initialized:
                with torch.no_grad():
                    self.value.weight.fill_(1e-6).fill_diagonal_(1.0)
        self.dropout = nn.Dropout(config.dropout_prob or 0.0)

    def forward(self, query: torch.Tensor, ups: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``ups`` is [batch, tokens, adapters, hidden]."""
        config = self.config
        value = ups + residual.unsqueeze(2) if config.residual_before else ups
        q = self.query(query) if config.query else query
        k = self.key(ups) if config.key else ups
        v = self.value(value) if config.value and config.value_before_softmax else value
        scores = self.dropout(torch.matmul(q.unsqueeze(2), k.transpose(-2, -1)).squeeze(2))
        mixed = torch.matmul(torch.softmax(scores, dim=-1).unsqueeze(2), v).squeeze(2)
        if config.value and not config.value_before_softmax:
            mixed = self.value(mixed)
        return mixed if config.residual_before else mixed + residual

    def regularization(self) -> torch.Tensor | None:
        """``adapters``' penalty keeping the value matrix near the identity (dynamic fusion)."""
        if not (self.config.regularization and self.config.value):
            return None
        eye = torch.eye(
            self.value.weight.shape[0], device=self.value.weight.device, dtype=self.value.weight.dtype
        )
        return 0.01 * (eye - self.value.weight).pow(2).sum()


def _bert_init(linear: nn.Linear) -> nn.Linear:
    nn.init.normal_(linear.weight, std=0.02)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)
    return linear


class FusionLayers(nn.Module):
    """One ``FusionLayer`` per sub-block where all fused adapters sit, keyed "{layer}.{position}"
    in ``state_dict`` order; what the fuse block owns and trains."""

    def __init__(
        self,
        adapters: list[str],
        points: dict[tuple[int, str], Any],
        hidden: int,
        config: FusionSettings,
        like: torch.Tensor,
    ) -> None:
        super().__init__()
        self.adapters = adapters
        self.config = config
        self.hidden = hidden
        self.placement = {"device": like.device, "dtype": like.dtype}
        self.slots = {id(slot): f"{layer}_{position}" for (layer, position), slot in points.items()}
        self.layers = nn.ModuleDict(
            {key: FusionLayer(hidden, config).to(**self.placement) for key in self.slots.values()}
        )
        self.head: nn.Module | None = None
        """The fusion's own classification head (``adapters`` names a fusion's head after the
        fusion, never one of its children's); None: the model's own head runs."""
        self.head_config: dict[str, Any] | None = None

    def add_head(self, config: dict[str, Any]) -> None:
        """A fresh AdapterHub classification head (``head_config.json``'s ``config``) of its own."""
        from hubcli.plugin_api.torch_modules import classification_head

        self.head = classification_head(config, self.hidden).to(**self.placement)
        self.head_config = dict(config)

    def reconfigure(self, config: FusionSettings) -> None:
        """New layers with ``config`` (e.g. read from a saved fusion), same places."""
        self.config = config
        for key in list(self.layers):
            self.layers[key] = FusionLayer(self.hidden, config).to(**self.placement)

    def at(self, slot: Any) -> FusionLayer:
        key = self.slots.get(id(slot))
        if key is None:
            raise CompositionError(f"fuse({', '.join(self.adapters)}): no fusion layer at this sub-block")
        return self.layers[key]


def fuse(state: SubBlockRouted, names: list[str], layers: FusionLayers) -> SubBlockRouted:
    """The fused sub-block state (see the module docstring)."""
    for name in names:
        if not all(
            hasattr(state.slot.adapters[name], part) for part in ("config", "adapter_down", "adapter_up")
        ):
            raise CompositionError(f"fuse: adapter {name!r} is not a bottleneck adapter")
    config = state.slot.adapters[names[-1]].config
    hidden, block = state.hidden, state.block
    summed = hidden + block.x
    z = block.normed(summed) if config.original_ln_before else hidden
    if config.residual_before_ln == "post_add":
        residual = summed if config.original_ln_before else hidden
    else:
        residual = hidden if config.residual_before_ln else z
    fusion = layers.at(state.slot)
    query = hidden if fusion.config.query_before_ln else z
    ups = torch.stack([_up(state.slot.adapters[name], z) for name in names], dim=2)
    return state.with_hidden(fusion(query, ups, residual), names[-1])


def _up(adapter: Any, z: torch.Tensor) -> torch.Tensor:
    """uⱼ = up(act(down(z)))·scaling, before any gate: what ``adapters`` hands its fusion
    layer (the parameter names are ``adapters``' own, which the bottleneck module keeps)."""
    return adapter.adapter_up(adapter.adapter_down(z)) * adapter.scaling

"""The canonical bottleneck-adapter config (Houlsby, Pfeiffer, parallel …), as ``adapters``
defines it: a down projection, a non-linearity and an up projection at one or two places per
layer, with the residual and layer-norm placement that decides the exact forward pass."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveFloat


class BottleneckConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    mh_adapter: bool
    """An adapter after the attention block of each layer."""
    output_adapter: bool
    """An adapter after the feed-forward block of each layer."""
    cross_adapter: bool = False
    """An adapter after the cross-attention block (encoder-decoder models)."""
    reduction_factor: PositiveFloat | dict[str, PositiveFloat]
    """hidden size / bottleneck size; a dict maps layer ids (and ``default``) to factors."""
    non_linearity: str
    original_ln_before: bool = False
    original_ln_after: bool = True
    ln_before: bool = False
    ln_after: bool = False
    residual_before_ln: bool | Literal["post_add"] = True
    adapter_residual_before_ln: bool = False
    is_parallel: bool = False
    scaling: float | Literal["learned", "channel"] = 1.0
    """A constant, or a learned scalar (``learned``) or vector (``channel``) saved as ``scaling``."""
    use_gating: bool = False
    leave_out: list[int] = []
    dropout: float = 0.0
    init_weights: str = "bert"
    stochastic_depth: float = 0.0

    def bottleneck_size(self, hidden_size: int, layer: int | None) -> int | None:
        """The width of the bottleneck in ``layer``, exactly as ``adapters`` computes it
        (floor division, at least 1); None when a per-layer mapping has no entry for it."""
        factor = self.reduction_factor
        if isinstance(factor, dict):
            factor = factor.get(str(layer), factor.get("default"))
            if factor is None:
                return None
        return max(1, int(hidden_size // factor))

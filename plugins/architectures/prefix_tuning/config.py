"""The canonical prefix-tuning config (Li & Liang 2021): learned key/value prefixes that every
attention layer attends to before the real tokens."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, PositiveInt


class PrefixTuningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    num_virtual_tokens: PositiveInt
    """Prefix length (PEFT ``num_virtual_tokens``, AdapterHub ``prefix_length``)."""
    flat: bool
    """True: the weights are the key/value table itself. False (AdapterHub only): an embedding
    and a two-layer MLP produce it, unless the adapter was ejected (``eject_prefix_tuning``),
    which leaves ``flat: false`` in the file but saves the table: the tensor names decide."""
    num_layers: PositiveInt | None = None
    """PEFT; AdapterHub takes it from the model."""
    token_dim: PositiveInt | None = None
    """Width of one layer's keys (heads × head size; smaller than hidden with grouped KV)."""
    num_heads: PositiveInt | None = None
    num_transformer_submodules: PositiveInt = 1
    """PEFT: 2 for encoder-decoder models (one table each, stacked on the token axis)."""
    prefix_projection: bool = False
    """PEFT trained the table through an MLP; what it saved is the MLP's output, a flat table."""
    modules_to_save: list[str] = []
    """PEFT: modules saved whole next to the table (a SEQ_CLS classifier)."""
    bottleneck_size: PositiveInt | None = None
    """AdapterHub, not flat: width of the reparametrisation MLP."""
    non_linearity: str | None = None
    encoder_prefix: bool = True
    cross_prefix: bool = True
    leave_out: list[int] = []
    use_gating: bool = False
    shared_gating: bool = True

"""The canonical prompt-tuning config (Lester et al. 2021): learned embeddings inserted into the
input sequence."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveInt


class PromptTuningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    num_virtual_tokens: PositiveInt
    """Prompt length (PEFT ``num_virtual_tokens``, AdapterHub ``prompt_length``)."""
    token_dim: PositiveInt | None = None
    """Embedding width (PEFT; AdapterHub uses the model's hidden size)."""
    num_transformer_submodules: PositiveInt = 1
    """PEFT: 2 for encoder-decoder models (one prompt each, stacked on the token axis)."""
    combine: Literal["prefix", "prefix_after_bos"] = "prefix"
    """Where the prompt goes: before the input, or after its first (BOS) token (AdapterHub)."""
    modules_to_save: list[str] = []
    """PEFT: modules saved whole next to the prompt (a SEQ_CLS classifier)."""
    init: str | None = None
    """How training started (RANDOM, TEXT, random_uniform, from_string …): provenance only."""
    init_text: str | None = None

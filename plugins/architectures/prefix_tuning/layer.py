"""Prefix tuning on the model side, PEFT semantics: learned keys and values for every layer,
handed to the stock model as a ``past_key_values`` cache, with the attention mask extended.

PEFT saves ``prompt_embeddings`` [virtual tokens, layers · 2 · kv_heads · head_dim] (in
inference it uses these rows directly, without the training-time reparametrisation). For
grouped-query attention (Llama with ``num_key_value_heads`` < heads) PEFT sizes the prefix by
the key/value heads, so does this module. Position ids then start after the prefix, as they do
in PEFT, because the model counts the cached positions itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hubcli.plugin_api import (
    AttachTarget,
    CapabilityNotSupported,
    HubcliError,
    LoadedAdapter,
    ModelDims,
    ModelMismatchError,
)
from hubcli.plugin_api.torch_modules import InputAdapter, attach_saved_modules, extend_attention_mask
from plugins.architectures.prefix_tuning import adapterhub_prefix
from plugins.architectures.prefix_tuning.config import PrefixTuningConfig

KEY = "prompt_embeddings"


class PrefixKeyValues(InputAdapter):
    """Per-layer prefix keys and values, built into a fresh cache at every call."""

    def __init__(self, embeddings: torch.Tensor, dims: ModelDims) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(embeddings, requires_grad=False)
        self.dims = dims
        self.prefix_tokens = embeddings.shape[0]

    def prepare(self, inputs: dict[str, Any], embed: nn.Module) -> dict[str, Any]:
        from transformers import DynamicCache

        if inputs.get("past_key_values") is not None:
            raise HubcliError("prefix tuning cannot run on top of an existing past_key_values cache")
        reference = inputs.get("input_ids")
        if reference is None:
            reference = inputs["inputs_embeds"]
        batch = reference.shape[0]
        d = self.dims
        # [batch, tokens, layers·2, kv_heads, head_dim] → [layers·2, batch, kv_heads, tokens, head_dim]
        states = self.embeddings.unsqueeze(0).expand(batch, -1, -1)
        states = states.reshape(batch, self.prefix_tokens, d.num_layers * 2, d.num_kv_heads, d.head_dim)
        states = states.permute(2, 0, 3, 1, 4)
        per_layer = [(states[2 * i], states[2 * i + 1]) for i in range(d.num_layers)]
        inputs["past_key_values"] = DynamicCache(per_layer)
        extend_attention_mask(inputs, batch, self.prefix_tokens)
        return inputs


def attach(target: AttachTarget, adapter: LoadedAdapter) -> None:
    if PrefixTuningConfig.model_validate(adapter.config).num_transformer_submodules != 1:
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: prefixes for encoder-decoder models cannot be attached yet"
        )
    d = target.dims
    width = d.num_layers * 2 * d.num_kv_heads * d.head_dim
    if adapter.format == "adapterhub":
        embeddings = adapterhub_prefix.prefix_table(adapter, width)
    else:
        embeddings = adapter.tensors.get(KEY)
    if embeddings is None:
        raise ModelMismatchError(f"adapter {adapter.name!r}: no {KEY} tensor in its weights")
    if embeddings.dim() != 2 or embeddings.shape[1] != width:
        raise ModelMismatchError(
            f"adapter {adapter.name!r}: {KEY} has shape {tuple(embeddings.shape)} but this model "
            f"needs [tokens, {width}] ({d.num_layers} layers × 2 × {d.num_kv_heads} kv heads × "
            f"{d.head_dim})"
        )
    like = target.module(target.family.points.word_embeddings).weight
    prefix = PrefixKeyValues(embeddings.to(like.device, like.dtype), d)
    if adapter.format == "adapterhub":
        prefix = adapterhub_prefix.AdapterHubPrefix(prefix, adapterhub_prefix.position_rule(target))
    target.add_input_adapter(adapter.name, prefix)
    # PEFT's file lists them (the canonical prefix-tuning config does not keep them).
    saved = adapter.raw_config.get("modules_to_save") or []
    attach_saved_modules(target, adapter.name, adapter.tensors, saved)

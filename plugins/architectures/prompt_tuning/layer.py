"""Prompt tuning on the model side, PEFT semantics: learned embeddings of virtual tokens are
prepended to the input embeddings and the attention mask is extended with ones.

PEFT saves them as ``prompt_embeddings`` [virtual tokens, hidden]. ``StitchedModel.forward``
drops the virtual positions from token-level outputs, so outputs line up with the input ids
(PEFT returns them for causal LMs; compare PEFT's ``[:, n:]``).
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
    ModelMismatchError,
)
from hubcli.plugin_api.torch_modules import InputAdapter, attach_saved_modules, extend_attention_mask
from plugins.architectures.prompt_tuning import adapterhub_prompt
from plugins.architectures.prompt_tuning.config import PromptTuningConfig

KEY = "prompt_embeddings"


class PromptEmbeddings(InputAdapter):
    def __init__(self, embeddings: torch.Tensor) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(embeddings, requires_grad=False)
        self.virtual_tokens = embeddings.shape[0]

    def prepare(self, inputs: dict[str, Any], embed: nn.Module) -> dict[str, Any]:
        input_ids = inputs.pop("input_ids", None)
        embeds = inputs.get("inputs_embeds")
        if embeds is None:
            if input_ids is None:
                raise HubcliError("prompt tuning needs input_ids or inputs_embeds")
            embeds = embed(input_ids)
        batch = embeds.shape[0]
        prompt = self.embeddings.to(embeds.dtype).unsqueeze(0).expand(batch, -1, -1)
        inputs["inputs_embeds"] = torch.cat([prompt, embeds], dim=1)
        extend_attention_mask(inputs, batch, self.virtual_tokens)
        token_types = inputs.get("token_type_ids")
        if token_types is not None:
            pad = torch.zeros(batch, self.virtual_tokens, dtype=token_types.dtype, device=token_types.device)
            inputs["token_type_ids"] = torch.cat([pad, token_types], dim=1)
        inputs.pop("position_ids", None)  # as PEFT: positions restart over the longer input
        return inputs


def attach(target: AttachTarget, adapter: LoadedAdapter) -> None:
    if adapter.format == "adapterhub":
        target.add_input_adapter(adapter.name, adapterhub_prompt.prompt_adapter(target, adapter))
        return
    config = PromptTuningConfig.model_validate(adapter.config)
    if config.num_transformer_submodules != 1:
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: prompts for encoder-decoder models cannot be attached yet"
        )
    embeddings = adapter.tensors.get(KEY)
    if embeddings is None:
        raise ModelMismatchError(f"adapter {adapter.name!r}: no {KEY} tensor in its weights")
    if embeddings.dim() != 2 or embeddings.shape[1] != target.dims.hidden_size:
        raise ModelMismatchError(
            f"adapter {adapter.name!r}: {KEY} has shape {tuple(embeddings.shape)} but the model's "
            f"hidden size is {target.dims.hidden_size}"
        )
    like = target.module(target.family.points.word_embeddings).weight
    target.add_input_adapter(adapter.name, PromptEmbeddings(embeddings.to(like.device, like.dtype)))
    attach_saved_modules(target, adapter.name, adapter.tensors, config.modules_to_save)

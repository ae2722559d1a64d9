"""AdapterHub prompt tuning, which runs differently from PEFT's.

``adapters`` saves ``prompt_tuning.prompt_tunings.<name>.prompt_embedding.weight`` [L, hidden]
and concatenates those rows in front of the *output of the embeddings module* (after position
and token-type embeddings and the embedding LayerNorm), where PEFT prepends them to the word
embeddings. So the real tokens keep their positions and the prompt rows are not normalised. The
attention mask gets L leading ones; token-level outputs are L positions longer (``adapters``
returns them; ``StitchedModel.forward`` drops them).

Only families whose word embeddings sit in a dedicated embeddings module (BERT, RoBERTa) have
that place; ``adapters`` itself offers prompt tuning for no decoder family.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hubcli.plugin_api import AttachTarget, CapabilityNotSupported, LoadedAdapter, ModelMismatchError
from hubcli.plugin_api.torch_modules import InputAdapter, extend_attention_mask
from plugins.architectures.prompt_tuning.config import PromptTuningConfig

SUFFIX = ".prompt_embedding.weight"


class EmbeddingOutputPrompt(InputAdapter):
    """Extends the mask when the model is called; a hook on the embeddings module then puts
    the prompt rows in front of that module's output, during that same call only."""

    def __init__(self, prompt: torch.Tensor) -> None:
        super().__init__()
        self.prompt = nn.Parameter(prompt, requires_grad=False)
        self.virtual_tokens = prompt.shape[0]
        self._pending = False

    def prepare(self, inputs: dict[str, Any], embed: nn.Module) -> dict[str, Any]:
        reference = inputs.get("input_ids")
        if reference is None:
            reference = inputs["inputs_embeds"]
        extend_attention_mask(inputs, reference.shape[0], self.virtual_tokens)
        self._pending = True
        return inputs

    def after_embeddings(self, _module: nn.Module, _args: Any, output: torch.Tensor) -> torch.Tensor:
        if not self._pending:
            return output
        self._pending = False
        prompt = self.prompt.to(output.dtype).unsqueeze(0).expand(output.shape[0], -1, -1)
        return torch.cat([prompt, output], dim=1)


def prompt_adapter(target: AttachTarget, adapter: LoadedAdapter) -> EmbeddingOutputPrompt:
    """The prompt of ``adapter``, its hook installed on the model's embeddings module."""
    config = PromptTuningConfig.model_validate(adapter.config)
    if config.combine != "prefix":
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: AdapterHub prompt combine {config.combine!r} cannot run yet"
        )
    path = target.family.points.word_embeddings.rpartition(".")[0]
    if not path:
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: AdapterHub prompt tuning needs an embeddings module, which "
            f"{target.family.name} models lack (adapters does not support them either)"
        )
    weights = [tensor for key, tensor in adapter.tensors.items() if key.endswith(SUFFIX)]
    hidden = target.dims.hidden_size
    if len(weights) != 1 or weights[0].shape != (config.num_virtual_tokens, hidden):
        raise ModelMismatchError(
            f"adapter {adapter.name!r}: expected one …{SUFFIX} of shape "
            f"[{config.num_virtual_tokens}, {hidden}] (tensors: {', '.join(adapter.tensors)})"
        )
    like = target.module(target.family.points.word_embeddings).weight
    prompt = EmbeddingOutputPrompt(weights[0].to(like.device, like.dtype))
    target.backbone.get_submodule(path).register_forward_hook(prompt.after_embeddings)
    return prompt

"""A tiny Phi built from its config, as the kit builds its tiny models of hubcli's own
families (``hubcli.testing.tiny_model``): real module trees, milliseconds per forward pass."""

from __future__ import annotations

import torch
import transformers

PHI_SIZES = {
    "vocab_size": 100,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
}


def tiny_phi(head: str = "causal_lm", seed: int = 0) -> transformers.PreTrainedModel:
    """A freshly initialised tiny Phi with a language-model head ("causal_lm") or a 3-label
    classifier ("seq_cls"), biases randomised (transformers starts them at zero, which would
    hide a dropped bias), in eval mode."""
    torch.manual_seed(seed)
    config = transformers.PhiConfig(**PHI_SIZES, num_labels=3)
    model_class = (
        transformers.PhiForCausalLM if head == "causal_lm" else transformers.PhiForSequenceClassification
    )
    model = model_class(config)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(".bias"):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return model.eval()

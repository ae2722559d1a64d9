"""Tiny real ``transformers`` models, one per model family hubcli supports, for plugin tests.

Hidden size 32, 2 layers, 4 heads (Llama: 2 key/value heads), a vocabulary of 100, built from a
config with a fixed seed: real module trees (the ones the family plugins name) at a size where a
forward pass takes milliseconds. Encoders come with a sequence-classification head (3 labels),
decoders with a language-model head, as adapters for them are usually trained. Biases are
randomised too: transformers initialises them to zero, which would hide bugs that drop them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

TINY_FAMILIES = ("bert", "roberta", "distilbert", "gpt2", "llama")
"""The model families of hubcli's built-in ``hubcli.models`` plugins (docs/engine.md)."""

TINY_TASK_TYPES = {
    "bert": "SEQ_CLS",
    "roberta": "SEQ_CLS",
    "distilbert": "SEQ_CLS",
    "gpt2": "CAUSAL_LM",
    "llama": "CAUSAL_LM",
}
"""The PEFT ``task_type`` of each tiny model's head: what an adapter config names so that hubcli
loads the base with the same head (``AutoModelForSequenceClassification`` / ``…ForCausalLM``)."""

TINY_INPUT_IDS = [[2, 15, 27, 4, 9], [3, 5, 7, 8, 1]]
TINY_ATTENTION_MASK = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]


def tiny_model(family: str, seed: int = 0) -> Any:
    """A freshly initialised tiny model of ``family`` in eval mode (see the module docstring)."""
    import torch
    import transformers as tf

    if family not in TINY_FAMILIES:
        raise ValueError(f"no tiny model for family {family!r} (families: {', '.join(TINY_FAMILIES)})")
    torch.manual_seed(seed)
    sizes: dict[str, Any] = {"vocab_size": 100}
    if family in ("bert", "roberta"):
        config_class = tf.BertConfig if family == "bert" else tf.RobertaConfig
        extra = {"max_position_embeddings": 66, "pad_token_id": 1} if family == "roberta" else {}
        config = config_class(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            num_labels=3,
            **sizes,
            **extra,
        )
        model_class = (
            tf.BertForSequenceClassification if family == "bert" else tf.RobertaForSequenceClassification
        )
        model = model_class(config)
    elif family == "distilbert":
        config = tf.DistilBertConfig(
            dim=32, n_layers=2, n_heads=4, hidden_dim=37, num_labels=3, max_position_embeddings=64, **sizes
        )
        model = tf.DistilBertForSequenceClassification(config)
    elif family == "gpt2":
        config = tf.GPT2Config(
            n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0, **sizes
        )
        model = tf.GPT2LMHeadModel(config)
    else:
        config = tf.LlamaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=37,
            **sizes,
        )
        model = tf.LlamaForCausalLM(config)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".bias"):
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return model.eval()


def save_tiny_model(family: str, folder: Path, seed: int = 0) -> Path:
    """``tiny_model(family)`` saved with ``save_pretrained``: a local base model folder for the
    CLI (``hubcli predict FOLDER …``; it has no tokenizer, so pass ``--input-ids``)."""
    tiny_model(family, seed).save_pretrained(folder)
    return Path(folder)


def tiny_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows of token ids (the second padded) and their attention mask."""
    import torch

    return torch.tensor(TINY_INPUT_IDS), torch.tensor(TINY_ATTENTION_MASK)


def model_output(result: Any) -> torch.Tensor:
    """The tensor to compare: ``logits`` when the model has a head, else the last hidden state."""
    logits = result.get("logits")
    return logits if logits is not None else result["last_hidden_state"]

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


TASK = "task"
"""``head=TASK``: the head adapters for the family are usually trained with (``TINY_TASK_TYPES``)."""

_CLASS_PREFIXES = {
    "bert": "Bert",
    "roberta": "Roberta",
    "xlm-roberta": "XLMRoberta",
    "distilbert": "DistilBert",
    "gpt2": "GPT2",
    "llama": "Llama",
    "mistral": "Mistral",
    "qwen2": "Qwen2",
    "electra": "Electra",
}
"""Every family a tiny model can be built for: ``TINY_FAMILIES``, stock ``transformers`` types
the built-in families also cover (XLM-R, Mistral, Qwen2) and one no family covers (ELECTRA)."""
_DECODERS = ("gpt2", "llama", "mistral", "qwen2")

_ENCODER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}
_DECODER = {**_ENCODER, "num_key_value_heads": 2}
_ROBERTA = {**_ENCODER, "max_position_embeddings": 66, "pad_token_id": 1}
_SIZES: dict[str, dict[str, Any]] = {
    "bert": _ENCODER,
    "roberta": _ROBERTA,
    "xlm-roberta": _ROBERTA,
    "distilbert": {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, "max_position_embeddings": 64},
    "gpt2": {
        "n_embd": 32,
        "n_layer": 2,
        "n_head": 4,
        "n_positions": 64,
        "bos_token_id": 0,
        "eos_token_id": 0,
    },
    "llama": _DECODER,
    "mistral": _DECODER,
    "qwen2": _DECODER,
    "electra": _ENCODER,
}
_HIDDEN_KEYS = {"distilbert": "dim", "gpt2": "n_embd"}
_HEAD_SUFFIXES = {
    "classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "lm": "ForCausalLM",
    None: "Model",
}


def tiny_model(
    family: str,
    seed: int | None = 0,
    *,
    head: str | None = TASK,
    hidden: int = 32,
    random_biases: bool = True,
    **config: Any,
) -> Any:
    """A freshly initialised tiny model of ``family`` in eval mode (see the module docstring).

    ``head``: ``TASK`` (3-label sequence classifier for encoders, language model for decoders),
    ``"classification"``, ``"token-classification"``, ``"lm"`` or None (the bare backbone).
    ``seed`` None leaves torch's generator as the caller set it. ``config`` overrides the
    family's sizes (``vocab_size``, ``max_position_embeddings`` …); ``random_biases`` False
    keeps transformers' zero biases, for tests whose numbers were measured on them."""
    import torch
    import transformers as tf

    if family not in _CLASS_PREFIXES:
        raise ValueError(f"no tiny model for family {family!r} (families: {', '.join(_CLASS_PREFIXES)})")
    if head == TASK:
        head = "lm" if family in _DECODERS else "classification"
    if seed is not None:
        torch.manual_seed(seed)
    labels = {"num_labels": 3} if head in ("classification", "token-classification") else {}
    settings = {"vocab_size": 100, **_SIZES[family], _HIDDEN_KEYS.get(family, "hidden_size"): hidden}
    prefix = _CLASS_PREFIXES[family]
    suffix = "LMHeadModel" if head == "lm" and family == "gpt2" else _HEAD_SUFFIXES[head]
    model_config = getattr(tf, f"{prefix}Config")(**{**settings, **labels, **config})
    model = getattr(tf, f"{prefix}{suffix}")(model_config)
    if random_biases:
        generator = torch.Generator().manual_seed((seed or 0) + 1)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith(".bias"):
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return model.eval()


def save_tiny_model(family: str, folder: Path, seed: int | None = 0, **options: Any) -> Path:
    """``tiny_model(family, seed, **options)`` saved with ``save_pretrained``: a local base model
    folder for the CLI (``hubcli predict FOLDER …``; it has no tokenizer, so pass
    ``--input-ids``)."""
    tiny_model(family, seed, **options).save_pretrained(folder)
    return Path(folder)


def tiny_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows of token ids (the second padded) and their attention mask."""
    import torch

    return torch.tensor(TINY_INPUT_IDS), torch.tensor(TINY_ATTENTION_MASK)


def model_output(result: Any) -> torch.Tensor:
    """The tensor to compare: ``logits`` when the model has a head, else the last hidden state."""
    logits = result.get("logits")
    return logits if logits is not None else result["last_hidden_state"]

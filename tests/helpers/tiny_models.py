"""PEFT adapters with random weights on ``hubcli.testing``'s tiny models, for engine tests.

The models are ``tiny_model(family, **ENGINE_OPTIONS[family])``: hidden size 32, 2 layers, 4
heads and a vocabulary of 100 (Llama: 2 key/value heads), a fixed seed. Adapter weights are
randomised after PEFT created them: PEFT initialises LoRA's B (and IA³'s vectors) so that the
adapter starts as the identity, which would make any comparison vacuous.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from hubcli.testing import TINY_TASK_TYPES, tiny_model

FAMILIES = ("bert", "roberta", "gpt2", "llama")
ENGINE_OPTIONS: dict[str, dict[str, Any]] = {
    **{family: {"random_biases": False} for family in FAMILIES},
    "gpt2": {"random_biases": False, "n_positions": 1024},
}
"""``hubcli.testing.tiny_model`` options of the engine tests' models: transformers' zero biases
and GPT-2's stock 1024 positions, the models these tests' numbers were measured on."""


LORA_TARGETS = {
    "bert": ["query", "value", "intermediate.dense"],
    "roberta": ["query", "key", "output.dense"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "llama": ["q_proj", "v_proj", "o_proj", "down_proj"],
}
PATTERN_KEYS = {"bert": "value", "roberta": "key", "gpt2": "c_fc", "llama": "v_proj"}


def peft_config(method: str, family: str, task: str) -> Any:
    """The PEFT config of one test case (``method`` as in the test ids)."""
    import peft

    lora: dict[str, Any] = {
        "task_type": task,
        "r": 4,
        "lora_alpha": 6,
        "target_modules": LORA_TARGETS[family],
        "fan_in_fan_out": family == "gpt2",
    }
    if method == "lora":
        return peft.LoraConfig(**lora)
    if method == "rslora":
        return peft.LoraConfig(**lora, use_rslora=True)
    if method == "dora":
        return peft.LoraConfig(**lora, use_dora=True)
    if method == "lora_bias":
        return peft.LoraConfig(**lora, lora_bias=True)
    if method == "lora_regex":  # one regex, full match against the module path
        pattern = r".*\.(" + "|".join(LORA_TARGETS[family]).replace(".", r"\.") + ")"
        return peft.LoraConfig(**{**lora, "target_modules": pattern})
    if method == "rank_pattern":
        key = PATTERN_KEYS[family]
        return peft.LoraConfig(
            **{**lora, "target_modules": "all-linear"}, rank_pattern={key: 2}, alpha_pattern={key: 11}
        )
    if method == "ia3":
        return peft.IA3Config(task_type=task)
    if method == "prefix":
        return peft.PrefixTuningConfig(task_type=task, num_virtual_tokens=3)
    if method == "prompt":
        return peft.PromptTuningConfig(task_type=task, num_virtual_tokens=3)
    raise ValueError(method)


TRAINED = ("lora_", "ia3_l", "prompt_encoder", "modules_to_save.default")


def peft_adapter(family: str, method: str, folder: Path, hidden: int = 32, seed: int = 0, model: Any = None):
    """Save a randomised PEFT adapter for a tiny ``family`` model (or for a copy of ``model``, a
    model of that family with the same head) into ``folder``.

    Returns ``(base, peft_model)``: ``base`` is an untouched copy of the base model (PEFT wraps
    its own copy in place)."""
    import peft

    task = TINY_TASK_TYPES[family]
    if model is None:
        model = tiny_model(family, seed, hidden=hidden, **ENGINE_OPTIONS[family])
    else:
        model = copy.deepcopy(model)
    base = copy.deepcopy(model)
    wrapped = peft.get_peft_model(model, peft_config(method, family, task))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if any(part in name for part in TRAINED):
                param.copy_(
                    torch.randn(param.shape, generator=generator) * 0.2 + (1.0 if "ia3_l" in name else 0.0)
                )
    wrapped.eval()
    wrapped.save_pretrained(folder)
    return base, wrapped

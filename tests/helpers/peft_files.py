"""PEFT-layout LoRA folders written directly (numpy + safetensors), for tests that need real
adapter files but no model: registry, crash safety, CLI. Files match what PEFT saves for a
BERT with hidden size 32 and two layers (``tests/test_formats_peft.py`` checks PEFT itself)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

HIDDEN = 32
LAYERS = 2


def write_peft_lora(folder: Path, *, rank: int = 2, seed: int = 0, pickle: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": 2 * rank,
        "target_modules": ["query", "value"],
        "base_model_name_or_path": "tiny-bert",
        "task_type": None,
        "bias": "none",
        "fan_in_fan_out": False,
    }
    (folder / "adapter_config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(LAYERS):
        for module in ("query", "value"):
            path = f"base_model.model.encoder.layer.{layer}.attention.self.{module}"
            tensors[f"{path}.lora_A.weight"] = rng.standard_normal((rank, HIDDEN)).astype(np.float32)
            tensors[f"{path}.lora_B.weight"] = rng.standard_normal((HIDDEN, rank)).astype(np.float32)
    if pickle:
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, folder / "adapter_model.bin")
    else:
        save_file(tensors, str(folder / "adapter_model.safetensors"))
    return folder

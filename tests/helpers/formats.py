"""Small helpers for the format tests: hand-written adapter folders and registry checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from registry import Registry

PEFT_LORA_CONFIG: dict[str, Any] = {
    "peft_type": "LORA",
    "task_type": None,
    "base_model_name_or_path": "tiny/bert",
    "r": 4,
    "lora_alpha": 8,
    "target_modules": ["query"],
}
QUERY = "base_model.model.encoder.layer.0.attention.self.query"


def lora_tensors(r: int = 4, hidden: int = 32) -> dict[str, np.ndarray]:
    """One well-formed PEFT LoRA module (A [r, in], B [out, r])."""
    return {
        f"{QUERY}.lora_A.weight": np.zeros((r, hidden), dtype=np.float32),
        f"{QUERY}.lora_B.weight": np.zeros((hidden, r), dtype=np.float32),
    }


def write_adapter(
    folder: Path,
    config: dict[str, Any] | str,
    tensors: dict[str, np.ndarray] | None = None,
    weights_file: str = "adapter_model.safetensors",
) -> Path:
    """A folder with ``adapter_config.json`` (a dict, or raw text) and optional weights."""
    folder.mkdir(parents=True, exist_ok=True)
    text = config if isinstance(config, str) else json.dumps(config)
    (folder / "adapter_config.json").write_text(text)
    if tensors is not None:
        save_file(tensors, str(folder / weights_file))
    return folder


def assert_registry_empty(registry: Registry) -> None:
    """Nothing was registered and no blob (nor staging leftover) was written."""
    assert registry.count_adapters() == 0
    assert list(registry.store.all_blobs()) == []
    assert list(registry.store.staging_root.iterdir()) == []

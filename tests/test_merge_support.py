"""Helpers for the merge tests: PEFT adapters with random weights on one tiny Llama, imported
into the registry with ``import_adapter``, and the registered files read back as tensors.

Every adapter of a test shares one base model (a merge is only meaningful on a shared base);
each gets its own random weights from its own seed (PEFT initialises LoRA's B to zero and IA³'s
vectors to one, which would make every comparison vacuous).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch

from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder
from registry import Registry

BASE_ID = "tiny/llama"
LORA_TARGETS = ["q_proj", "v_proj", "down_proj"]


def peft_folder(
    base: torch.nn.Module,
    folder: Path,
    *,
    kind: str = "lora",
    seed: int = 1,
    base_id: str = BASE_ID,
    **options: Any,
) -> Path:
    """Save a PEFT ``kind`` ("lora" or "ia3") adapter of ``base`` with random weights."""
    import peft

    if kind == "lora":
        settings = {"r": 4, "lora_alpha": 8, "target_modules": LORA_TARGETS, **options}
        config = peft.LoraConfig(task_type="CAUSAL_LM", **settings)
    else:
        config = peft.IA3Config(task_type="CAUSAL_LM", **options)
    wrapped = peft.get_peft_model(copy.deepcopy(base), config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_" in name or "ia3_l" in name:
                offset = 1.0 if "ia3_l" in name else 0.0
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3 + offset)
    wrapped.save_pretrained(folder)
    config_file = folder / "adapter_config.json"
    raw = json.loads(config_file.read_text())
    raw["base_model_name_or_path"] = base_id
    config_file.write_text(json.dumps(raw))
    return folder


def register(registry: Registry, folder: Path, name: str) -> None:
    import_adapter(registry, AdapterFolder(folder), name=name)


def registered_tensors(registry: Registry, name: str) -> dict[str, torch.Tensor]:
    from hubcli.engine import read_adapter

    return read_adapter(registry, name).tensors


def lora_deltas(tensors: dict[str, torch.Tensor], scaling: float) -> dict[str, torch.Tensor]:
    """Module path → s·B·A in float64, formed densely."""
    deltas = {}
    for key, a in tensors.items():
        if key.endswith(".lora_A.weight"):
            module = key[len("base_model.model.") : -len(".lora_A.weight")]
            b = tensors[key.replace("lora_A", "lora_B")]
            deltas[module] = scaling * (b.double() @ a.double())
    return deltas


def registered_folder(registry: Registry, name: str, target: Path) -> Path:
    """The adapter's files as a folder again (for PEFT to load)."""
    adapter = registry.get_adapter(name)
    target.mkdir(parents=True)
    for file in registry.files(adapter):
        (target / file.path).write_bytes(registry.file_path(file).read_bytes())
    return target


def registry_state(registry: Registry) -> tuple[list[str], list[str]]:
    """Adapter names and stored blobs: equal before and after a refused merge."""
    names = [a.name for a in registry.list_adapters()]
    return names, sorted(registry.store.all_blobs())

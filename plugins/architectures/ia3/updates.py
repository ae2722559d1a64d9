"""IA³ as format-neutral updates (``ArchitecturePlugin.module_updates``) and back.

Reading: one ``ScaleUpdate`` per wrapped module with the *effective* vector: PEFT's
``base_model.model.<path>.ia3_l`` as saved, scaling the input of the config's feed-forward
modules (``IA3Config.is_feedforward``) and the output elsewhere; AdapterHub's
``<path>.loras.<name>.lora_B`` times the config's ``scale`` (alpha), always on the output. A
learned gate scales the vectors per token, which no fixed vector describes: refused. On a
fused QKV projection (GPT-2's ``c_attn``) an AdapterHub vector covers only the enabled thirds,
as saved; spreading it needs the model family, which only the engine has.

Writing: PEFT's layout ([1, in] for input-scaling vectors, [out, 1] otherwise), which PEFT and
the engine both run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hubcli.plugin_api import CapabilityNotSupported, LoadedAdapter, ModuleUpdate, ScaleUpdate
from hubcli.plugin_api.formats import peft
from hubcli.plugin_api.formats.adapterhub import lora_family_tensors
from hubcli.plugin_api.formats.writing import write_adapter_from_updates
from plugins.architectures.ia3.config import IA3Config
from plugins.architectures.ia3.formats import VECTOR


def module_updates(adapter: LoadedAdapter) -> list[ModuleUpdate]:
    config = IA3Config.model_validate(adapter.config)
    if config.use_gating:
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: a learned gate scales its vectors per token (use_gating), "
            "which no fixed vector describes"
        )
    if adapter.format != peft.FORMAT:
        return [
            _hub_update(adapter, path, params, config.scale)
            for path, params in lora_family_tensors(adapter).items()
        ]
    updates: list[ModuleUpdate] = []
    for key, tensor in adapter.tensors.items():
        path = peft.module_of(key, VECTOR)
        if path is not None:
            updates.append(
                ScaleUpdate(module=path, vector=tensor.flatten(), on_input=config.is_feedforward(path))
            )
    return updates


def _hub_update(
    adapter: LoadedAdapter, path: str, params: dict[str, torch.Tensor], scale: float
) -> ScaleUpdate:
    if set(params) != {"lora_B"}:
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: AdapterHub IA³ parameters {sorted(params)} at {path!r} "
            "(only lora_B vectors scale activations)"
        )
    return ScaleUpdate(module=path, vector=params["lora_B"].flatten() * scale)


def write_updates(
    updates: Sequence[ModuleUpdate],
    folder: Path,
    *,
    sources: Sequence[LoadedAdapter],
    name: str,
    saved: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """``updates`` as a PEFT IA³ adapter, with the first source's options. PEFT's layout names
    the adapter nowhere, so ``name`` is not written."""
    saved = saved or {}
    tensors: dict[str, torch.Tensor] = {}
    feedforward = []
    for update in updates:
        if not isinstance(update, ScaleUpdate) or update.part is not None:
            raise CapabilityNotSupported(
                f"{update.module!r}: only whole-module scaling vectors can be written as IA³"
            )
        vector = update.vector.reshape(1, -1) if update.on_input else update.vector.reshape(-1, 1)
        tensors[f"{peft.MODULE_PREFIX}{update.module}.{VECTOR}"] = vector
        if update.on_input:
            feedforward.append(update.module)
    first = sources[0]
    config = dict(first.raw_config) if first.format == peft.FORMAT else _peft_envelope(first)
    config.update(
        peft_type="IA3",
        target_modules=[update.module for update in updates],
        feedforward_modules=feedforward,
        exclude_modules=None,
        modules_to_save=IA3Config.model_validate(first.config).modules_to_save if saved else None,
    )
    write_adapter_from_updates(folder, config, peft.WEIGHT_FILES[0], {**tensors, **saved})


def _peft_envelope(first: LoadedAdapter) -> dict[str, Any]:
    """PEFT's keys around the method when the first source was saved by AdapterHub."""
    return {
        "peft_type": "IA3",
        "task_type": None,
        "base_model_name_or_path": first.raw_config.get("model_name"),
        "inference_mode": True,
        "fan_in_fan_out": False,
    }

"""Prefix tuning as format-neutral updates (``ArchitecturePlugin.module_updates``): its trained
parameters as they are saved, since a prefix adds keys and values rather than changing a
module's weights. PEFT's one ``prompt_embeddings`` table belongs to no module (module ``""``);
AdapterHub's pool (``<path>.prefix_tunings.<name>.<location>.<param>``, shared and per-layer
copies) and its gates keep the module path in front of the adapter's name."""

from __future__ import annotations

import torch

from hubcli.plugin_api import LoadedAdapter, ModuleUpdate, ParameterUpdate
from hubcli.plugin_api.formats import peft
from plugins.architectures.prefix_tuning.formats import GATE_KEY, PEFT_TENSOR, POOL_KEY


def module_updates(adapter: LoadedAdapter) -> list[ModuleUpdate]:
    if adapter.format == peft.FORMAT:
        return [ParameterUpdate(module="", tensors={PEFT_TENSOR: adapter.tensors[PEFT_TENSOR]})]
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in adapter.tensors.items():
        if gate := GATE_KEY.match(key):
            grouped.setdefault(gate["module"], {})[f"gate.{gate['param']}"] = tensor
        elif pool := POOL_KEY.match(key):
            grouped.setdefault(pool["path"].rstrip("."), {})[f"{pool['location']}.{pool['param']}"] = tensor
    return [ParameterUpdate(module=module, tensors=params) for module, params in grouped.items()]

"""Prompt tuning as format-neutral updates (``ArchitecturePlugin.module_updates``): the soft
prompt table as saved, since it is fed in with the inputs rather than changing a module. PEFT's
``prompt_embeddings`` belongs to no module (module ``""``); AdapterHub's
``<path>.prompt_tunings.<name>.prompt_embedding.weight`` keeps its path."""

from __future__ import annotations

from hubcli.plugin_api import LoadedAdapter, ModuleUpdate, ParameterUpdate
from hubcli.plugin_api.formats import peft
from plugins.architectures.prompt_tuning.formats import HUB_KEY, PEFT_TENSOR

HUB_PARAMETER = "prompt_embedding.weight"


def module_updates(adapter: LoadedAdapter) -> list[ModuleUpdate]:
    if adapter.format == peft.FORMAT:
        return [ParameterUpdate(module="", tensors={PEFT_TENSOR: adapter.tensors[PEFT_TENSOR]})]
    return [
        ParameterUpdate(module=found["path"].rstrip("."), tensors={HUB_PARAMETER: tensor})
        for key, tensor in adapter.tensors.items()
        if (found := HUB_KEY.match(key))
    ]

"""Prompt tuning: learned input embeddings (soft prompts), from PEFT or AdapterHub."""

from __future__ import annotations

from collections.abc import Mapping

from hubcli.plugin_api import (
    ArchitecturePlugin,
    AttachTarget,
    DetectedAdapter,
    LoadedAdapter,
    ModuleUpdate,
    TensorInfo,
)
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.peft_and_adapterhub import PeftAndAdapterHub
from plugins.architectures.prompt_tuning import formats
from plugins.architectures.prompt_tuning.config import PromptTuningConfig

__all__ = ["PromptTuningArchitecture", "PromptTuningConfig"]


class PromptTuningArchitecture(PeftAndAdapterHub, ArchitecturePlugin):
    name = "prompt_tuning"
    peft_type = "PROMPT_TUNING"
    adapterhub_method = "prompt_tuning"
    readers = formats
    description = "Prompt tuning (soft prompts) from PEFT or AdapterHub"
    formats = (peft.FORMAT, adapterhub.FORMAT)
    compositions = frozenset()
    """None: ``adapters``' PromptTuningLayer is not composable (one prompt per forward)."""
    _PLACE = (
        "adapters puts the prompt after the embeddings module (position embeddings, LayerNorm), "
        "PEFT in front of the word embeddings, before both: one prompt, two outputs"
    )
    export_refusals = {"peft": _PLACE, "adapterhub": _PLACE}

    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        formats.validate(adapter, tensors)

    def attach(self, target: AttachTarget, adapter: LoadedAdapter) -> None:
        from plugins.architectures.prompt_tuning import layer  # torch: only when a model runs

        layer.attach(target, adapter)

    def module_updates(self, adapter: LoadedAdapter) -> list[ModuleUpdate]:
        from plugins.architectures.prompt_tuning import updates  # torch: only when weights are read

        return updates.module_updates(adapter)

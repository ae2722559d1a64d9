"""Prompt tuning: learned input embeddings (soft prompts), from PEFT or AdapterHub."""

from __future__ import annotations

from collections.abc import Mapping

from hubcli.plugin_api import ArchitecturePlugin, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.peft_and_adapterhub import PeftAndAdapterHub
from plugins.architectures.prompt_tuning import formats
from plugins.architectures.prompt_tuning.config import PromptTuningConfig

__all__ = ["PromptTuningArchitecture", "PromptTuningConfig"]


class PromptTuningArchitecture(PeftAndAdapterHub, ArchitecturePlugin):
    name = "prompt_tuning"
    api_version = 2
    peft_type = "PROMPT_TUNING"
    adapterhub_method = "prompt_tuning"
    readers = formats
    description = "Prompt tuning (soft prompts) from PEFT or AdapterHub"
    runtime = "plugins.architectures.prompt_tuning.runtime"
    """The model side (torch), imported on first use: ``runtime.py``."""
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

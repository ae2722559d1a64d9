"""LoRA (Hu et al. 2021): ΔW = s · B · A on chosen linear layers, from PEFT and AdapterHub."""

from __future__ import annotations

from hubcli.plugin_api import ArchitecturePlugin
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.peft_and_adapterhub import PeftAndAdapterHub
from plugins.architectures.lora import formats
from plugins.architectures.lora.config import LoraConfig

__all__ = ["LoraArchitecture", "LoraConfig"]


class LoraArchitecture(PeftAndAdapterHub, ArchitecturePlugin):
    name = "lora"
    api_version = 2
    peft_type = "LORA"
    adapterhub_method = "lora"
    readers = formats
    description = "Low-rank adaptation (LoRA, rsLoRA, DoRA) from PEFT or AdapterHub"
    runtime = "plugins.architectures.lora.runtime"
    """The model side (torch), imported on first use: ``runtime.py``."""
    formats = (peft.FORMAT, adapterhub.FORMAT)
    compositions = frozenset({"stack", "batch_split", "parallel", "average"})
    """As in ``adapters`` (LoRALinear): no split (it would cut the sequence inside a matmul) and
    no fuse (fusion attends over bottleneck outputs)."""
    export_formats = (peft.FORMAT, adapterhub.FORMAT)

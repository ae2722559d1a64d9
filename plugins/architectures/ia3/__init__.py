"""IA³: learned per-channel rescaling of chosen activations, from PEFT or AdapterHub."""

from __future__ import annotations

from hubcli.plugin_api import ArchitecturePlugin
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.peft_and_adapterhub import PeftAndAdapterHub
from plugins.architectures.ia3 import formats
from plugins.architectures.ia3.config import IA3Config

__all__ = ["IA3Architecture", "IA3Config"]


class IA3Architecture(PeftAndAdapterHub, ArchitecturePlugin):
    name = "ia3"
    api_version = 2
    peft_type = "IA3"
    adapterhub_method = "ia3"
    readers = formats
    description = "IA³ activation rescaling from PEFT or AdapterHub"
    runtime = "plugins.architectures.ia3.runtime"
    """The model side (torch), imported on first use: ``runtime.py``."""
    formats = (peft.FORMAT, adapterhub.FORMAT)
    compositions = frozenset({"stack", "batch_split", "parallel", "average"})
    """``adapters`` runs IA³ through the same LoRALinear layer as LoRA, with the same blocks."""
    export_formats = (peft.FORMAT, adapterhub.FORMAT)

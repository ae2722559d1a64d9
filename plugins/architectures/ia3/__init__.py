"""IA³: learned per-channel rescaling of chosen activations, from PEFT or AdapterHub."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubcli.plugin_api import ArchitecturePlugin, AttachTarget, LoadedAdapter, ModuleUpdate
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.peft_and_adapterhub import PeftAndAdapterHub
from plugins.architectures.ia3 import formats
from plugins.architectures.ia3.config import IA3Config

__all__ = ["IA3Architecture", "IA3Config"]


class IA3Architecture(PeftAndAdapterHub, ArchitecturePlugin):
    name = "ia3"
    peft_type = "IA3"
    adapterhub_method = "ia3"
    readers = formats
    description = "IA³ activation rescaling from PEFT or AdapterHub"
    formats = (peft.FORMAT, adapterhub.FORMAT)
    compositions = frozenset({"stack", "batch_split", "parallel", "average"})
    """``adapters`` runs IA³ through the same LoRALinear layer as LoRA, with the same blocks."""
    export_formats = (peft.FORMAT, adapterhub.FORMAT)

    def attach(self, target: AttachTarget, adapter: LoadedAdapter) -> None:
        from plugins.architectures.ia3 import layer  # torch: only when a model runs

        layer.attach(target, adapter)

    def merge(self, target: AttachTarget, name: str) -> None:
        from plugins.architectures.ia3 import layer

        layer.merge(target, name)

    def unmerge(self, target: AttachTarget, name: str) -> None:
        from plugins.architectures.ia3 import layer

        layer.unmerge(target, name)

    def module_updates(self, adapter: LoadedAdapter) -> list[ModuleUpdate]:
        from plugins.architectures.ia3 import updates  # torch: only when weights are read

        return updates.module_updates(adapter)

    def write_updates(
        self,
        updates: Sequence[ModuleUpdate],
        folder: Path,
        *,
        sources: Sequence[LoadedAdapter],
        name: str,
        saved: Mapping[str, Any] | None = None,
    ) -> None:
        from plugins.architectures.ia3 import updates as writer

        writer.write_updates(updates, folder, sources=sources, saved=saved or {})

    def export(
        self, adapter: LoadedAdapter, fmt: str, folder: Path, *, name: str, model_type: str | None = None
    ) -> None:
        from plugins.architectures.ia3 import conversion  # torch: only when files are written

        conversion.export(adapter, fmt, folder, name=name, model_type=model_type)

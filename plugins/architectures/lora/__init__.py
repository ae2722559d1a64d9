"""LoRA (Hu et al. 2021): ΔW = s · B · A on chosen linear layers, from PEFT and AdapterHub."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubcli.plugin_api import ArchitecturePlugin, AttachTarget, LoadedAdapter, ModuleUpdate
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.peft_and_adapterhub import PeftAndAdapterHub
from plugins.architectures.lora import formats
from plugins.architectures.lora.config import LoraConfig

__all__ = ["LoraArchitecture", "LoraConfig"]


class LoraArchitecture(PeftAndAdapterHub, ArchitecturePlugin):
    name = "lora"
    peft_type = "LORA"
    adapterhub_method = "lora"
    readers = formats
    description = "Low-rank adaptation (LoRA, rsLoRA, DoRA) from PEFT or AdapterHub"
    formats = (peft.FORMAT, adapterhub.FORMAT)
    compositions = frozenset({"stack", "batch_split", "parallel", "average"})
    """As in ``adapters`` (LoRALinear): no split (it would cut the sequence inside a matmul) and
    no fuse (fusion attends over bottleneck outputs)."""
    export_formats = (peft.FORMAT, adapterhub.FORMAT)

    def attach(self, target: AttachTarget, adapter: LoadedAdapter) -> None:
        from plugins.architectures.lora import layer  # torch: only when a model runs

        layer.attach(target, adapter)

    def merge(self, target: AttachTarget, name: str) -> None:
        from plugins.architectures.lora import layer

        layer.merge(target, name)

    def unmerge(self, target: AttachTarget, name: str) -> None:
        from plugins.architectures.lora import layer

        layer.unmerge(target, name)

    def export(
        self, adapter: LoadedAdapter, fmt: str, folder: Path, *, name: str, model_type: str | None = None
    ) -> None:
        from plugins.architectures.lora import conversion  # torch: only when files are written

        conversion.export(adapter, fmt, folder, name=name, model_type=model_type)

    def module_updates(self, adapter: LoadedAdapter) -> list[ModuleUpdate]:
        from plugins.architectures.lora import updates  # torch: only when weights are read

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
        from plugins.architectures.lora import updates as writer

        writer.write_updates(updates, folder, sources=sources, saved=saved or {})

"""Bottleneck adapters (Houlsby ``double_seq_bn``, Pfeiffer ``seq_bn``, parallel ``par_bn``)
from AdapterHub."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubcli.plugin_api import (
    AdapterFolder,
    ArchitecturePlugin,
    AttachTarget,
    DetectedAdapter,
    LoadedAdapter,
    ModuleUpdate,
    TensorInfo,
)
from hubcli.plugin_api.formats import adapterhub
from hubcli.plugin_api.formats.reading import read_adapter_config
from plugins.architectures.bottleneck import formats
from plugins.architectures.bottleneck.config import BottleneckConfig

__all__ = ["BottleneckArchitecture", "BottleneckConfig"]


class BottleneckArchitecture(ArchitecturePlugin):
    name = "bottleneck"
    description = "Bottleneck adapters (seq_bn, double_seq_bn, par_bn) from AdapterHub"
    formats = (adapterhub.FORMAT,)
    compositions = frozenset({"stack", "split", "batch_split", "parallel", "fuse", "average"})
    """Every block, as ``adapters``' BottleneckLayer supports them."""
    export_refusals = {"peft": "PEFT has no bottleneck adapters"}

    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        raw = read_adapter_config(folder)
        if raw is None or adapterhub.method(raw) != "bottleneck":
            return None
        return formats.from_adapterhub(folder, raw)

    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        formats.validate(adapter, tensors)

    def parameter_count(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> int:
        return formats.parameter_count(adapter, tensors)

    def attach(self, target: AttachTarget, adapter: LoadedAdapter) -> None:
        from plugins.architectures.bottleneck import layer  # torch: only when a model runs

        layer.attach(target, adapter)

    def module_updates(self, adapter: LoadedAdapter) -> list[ModuleUpdate]:
        from plugins.architectures.bottleneck import updates  # torch: only when weights are read

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
        from plugins.architectures.bottleneck import updates as writer

        writer.write_updates(updates, folder, sources=sources, name=name, saved=saved or {})

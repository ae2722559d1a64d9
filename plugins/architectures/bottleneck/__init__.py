"""Bottleneck adapters (Houlsby ``double_seq_bn``, Pfeiffer ``seq_bn``, parallel ``par_bn``)
from AdapterHub."""

from __future__ import annotations

from collections.abc import Mapping

from hubcli.plugin_api import AdapterFolder, ArchitecturePlugin, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub
from hubcli.plugin_api.formats.reading import read_adapter_config
from plugins.architectures.bottleneck import formats
from plugins.architectures.bottleneck.config import BottleneckConfig

__all__ = ["BottleneckArchitecture", "BottleneckConfig"]


class BottleneckArchitecture(ArchitecturePlugin):
    name = "bottleneck"
    api_version = 2
    description = "Bottleneck adapters (seq_bn, double_seq_bn, par_bn) from AdapterHub"
    runtime = "plugins.architectures.bottleneck.runtime"
    """The model side (torch), imported on first use: ``runtime.py``."""
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

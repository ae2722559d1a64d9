"""``fusion``: a trained AdapterFusion layer set, registered like an adapter so that a spec can
name it (``fuse(a, b, c, fusion=NAME)``). It is not an adapter: it takes part in no block and
cannot be attached alone; the fuse block reads its files when the composition is activated."""

from __future__ import annotations

from collections.abc import Mapping

from hubcli.plugin_api import (
    AdapterFolder,
    ArchitecturePlugin,
    AttachTarget,
    CapabilityNotSupported,
    DetectedAdapter,
    LoadedAdapter,
    TensorInfo,
)
from plugins.architectures.fusion import formats

__all__ = ["FusionArchitecture"]


class FusionArchitecture(ArchitecturePlugin):
    name = "fusion"
    api_version = 2
    description = "Trained AdapterFusion layers over named adapters (AdapterHub or hubcli files)"
    formats = ("adapterhub", "hubcli")
    compositions = frozenset()

    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        return formats.detect(folder)

    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        formats.validate(adapter, tensors)

    def attach(self, target: AttachTarget, adapter: LoadedAdapter) -> None:
        fused = ", ".join(adapter.config.get("adapters", ["a", "b", "c"]))
        raise CapabilityNotSupported(
            f"{adapter.name!r} is a fusion, not an adapter: use fuse({fused}, fusion={adapter.name})"
        )

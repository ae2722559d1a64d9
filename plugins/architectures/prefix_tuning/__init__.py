"""Prefix tuning: learned key/value prefixes for every attention layer, from PEFT or AdapterHub."""

from __future__ import annotations

from collections.abc import Mapping

from hubcli.adapter_folder import AdapterFolder
from hubcli.plugin_api import ArchitecturePlugin, AttachTarget, DetectedAdapter, LoadedAdapter, ModuleUpdate
from hubcli.tensor_files import TensorInfo
from plugins.architectures import _adapterhub, _peft
from plugins.architectures._common import read_adapter_config
from plugins.architectures.prefix_tuning import formats
from plugins.architectures.prefix_tuning.config import PrefixTuningConfig

__all__ = ["PrefixTuningArchitecture", "PrefixTuningConfig"]


class PrefixTuningArchitecture(ArchitecturePlugin):
    name = "prefix_tuning"
    description = "Prefix tuning (key/value prefixes) from PEFT or AdapterHub"
    formats = (_peft.FORMAT, _adapterhub.FORMAT)
    compositions = frozenset({"stack", "batch_split", "parallel"})
    """As ``adapters``' PrefixTuningLayer: prefixes concatenate, so stacking and routing rows
    work; averaging outputs or splitting the sequence does not."""
    _POSITIONS = (
        "adapters inserts the prefix inside the attention and keeps the real tokens at positions "
        "0…T−1, PEFT passes it as a cache and moves the tokens after it: one table, two outputs"
    )
    export_refusals = {"peft": _POSITIONS, "adapterhub": _POSITIONS}

    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        raw = read_adapter_config(folder)
        if raw is None:
            return None
        if _peft.peft_type(raw) == "PREFIX_TUNING":
            return formats.from_peft(folder, raw)
        if _adapterhub.method(raw) == "prefix_tuning":
            return formats.from_adapterhub(folder, raw)
        return None

    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        if adapter.format == _peft.FORMAT:
            formats.validate_peft(adapter, tensors)
        else:
            formats.validate_adapterhub(adapter, tensors)

    def parameter_count(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> int:
        return formats.parameter_count(adapter, tensors)

    def attach(self, target: AttachTarget, adapter: LoadedAdapter) -> None:
        from plugins.architectures.prefix_tuning import layer  # torch: only when a model runs

        layer.attach(target, adapter)

    def module_updates(self, adapter: LoadedAdapter) -> list[ModuleUpdate]:
        from plugins.architectures.prefix_tuning import updates  # torch: only when weights are read

        return updates.module_updates(adapter)

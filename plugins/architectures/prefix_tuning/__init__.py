"""Prefix tuning: learned key/value prefixes for every attention layer, from PEFT or AdapterHub."""

from __future__ import annotations

from collections.abc import Mapping

from hubcli.plugin_api import ArchitecturePlugin, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.peft_and_adapterhub import PeftAndAdapterHub
from plugins.architectures.prefix_tuning import formats
from plugins.architectures.prefix_tuning.config import PrefixTuningConfig

__all__ = ["PrefixTuningArchitecture", "PrefixTuningConfig"]


class PrefixTuningArchitecture(PeftAndAdapterHub, ArchitecturePlugin):
    name = "prefix_tuning"
    api_version = 2
    peft_type = "PREFIX_TUNING"
    adapterhub_method = "prefix_tuning"
    readers = formats
    description = "Prefix tuning (key/value prefixes) from PEFT or AdapterHub"
    runtime = "plugins.architectures.prefix_tuning.runtime"
    """The model side (torch), imported on first use: ``runtime.py``."""
    formats = (peft.FORMAT, adapterhub.FORMAT)
    compositions = frozenset({"stack", "batch_split", "parallel"})
    """As ``adapters``' PrefixTuningLayer: prefixes concatenate, so stacking and routing rows
    work; averaging outputs or splitting the sequence does not."""
    _POSITIONS = (
        "adapters inserts the prefix inside the attention and keeps the real tokens at positions "
        "0…T−1, PEFT passes it as a cache and moves the tokens after it: one table, two outputs"
    )
    export_refusals = {"peft": _POSITIONS, "adapterhub": _POSITIONS}

    def parameter_count(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> int:
        return formats.parameter_count(adapter, tensors)

"""Detection and validation for a method that both PEFT and AdapterHub save (LoRA, IA³, prefix
and prompt tuning; a VeRA plugin would be one more).

The config's envelope says whose file it is (PEFT's ``peft_type``, AdapterHub's
``config.architecture``); the method's own readers read and check each layout. Import side:
no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from hubcli.plugin_api import AdapterFolder, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.reading import read_adapter_config


class FormatReaders(Protocol):
    """What a method provides for each layout (a module with these four functions will do)."""

    def from_peft(self, folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
        """The adapter of a PEFT folder whose ``peft_type`` is the method's."""

    def from_adapterhub(self, folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
        """The adapter of an AdapterHub folder whose config names the method."""

    def validate_peft(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        """``ArchitecturePlugin.validate`` for the PEFT layout."""

    def validate_adapterhub(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        """``ArchitecturePlugin.validate`` for the AdapterHub layout."""


class PeftAndAdapterHub:
    """Mix in before ``ArchitecturePlugin``: ``detect`` and ``validate`` dispatch on the
    layout to ``readers``; the plugin names the method as each library does (``peft_type``:
    ``"LORA"``; ``adapterhub_method``: what ``adapterhub.method`` returns, ``"lora"``)."""

    peft_type: ClassVar[str]
    adapterhub_method: ClassVar[str]
    readers: ClassVar[FormatReaders]

    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        raw = read_adapter_config(folder)
        if raw is None:
            return None
        if peft.peft_type(raw) == self.peft_type:
            return self.readers.from_peft(folder, raw)
        if adapterhub.method(raw) == self.adapterhub_method:
            return self.readers.from_adapterhub(folder, raw)
        return None

    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        if adapter.format == peft.FORMAT:
            self.readers.validate_peft(adapter, tensors)
        else:
            self.readers.validate_adapterhub(adapter, tensors)

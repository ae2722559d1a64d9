"""Detection and validation for a method that both PEFT and AdapterHub save.

The config's envelope says whose file it is (PEFT's ``peft_type``, AdapterHub's
``config.architecture``); the method's own ``formats`` module reads and checks each layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import ClassVar

from hubcli.plugin_api import AdapterFolder, DetectedAdapter, TensorInfo
from plugins.architectures import _adapterhub, _peft
from plugins.architectures._common import read_adapter_config


class PeftAndAdapterHub:
    """Mix in before ``ArchitecturePlugin``: ``readers`` provides ``from_peft``,
    ``from_adapterhub``, ``validate_peft`` and ``validate_adapterhub``."""

    peft_type: ClassVar[str]
    adapterhub_method: ClassVar[str]
    readers: ClassVar[ModuleType]

    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        raw = read_adapter_config(folder)
        if raw is None:
            return None
        if _peft.peft_type(raw) == self.peft_type:
            return self.readers.from_peft(folder, raw)
        if _adapterhub.method(raw) == self.adapterhub_method:
            return self.readers.from_adapterhub(folder, raw)
        return None

    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        if adapter.format == _peft.FORMAT:
            self.readers.validate_peft(adapter, tensors)
        else:
            self.readers.validate_adapterhub(adapter, tensors)

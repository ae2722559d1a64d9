"""The plugin contract: what an adapter architecture, a composition block or a model family
provides to hubcli.

Plugins are found through entry points (see ``hubcli.discovery``). This module is imported by
fast commands, so it imports nothing heavy: torch appears only inside methods that need it.

Rules for evolving it (learned from harlequin, llm and datasette): the abstract core stays
small; optional capabilities are concrete methods with safe defaults that raise
``CapabilityNotSupported``; an abstract method is never added to a published base class;
``PLUGIN_API_VERSION`` is bumped when the contract changes and plugins declare the version
they were written for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hubcli.adapter_folder import AdapterFolder
from hubcli.tensor_files import TensorInfo

PLUGIN_API_VERSION = 1
"""The contract version this hubcli offers; plugins with a larger ``api_version`` are refused."""

FILE_ROLES = (
    "config",
    "weights",
    "head_config",
    "head_weights",
    "fusion_config",
    "fusion_weights",
    "card",
)


@dataclass
class DetectedAdapter:
    """What an architecture plugin recognised in a folder.

    ``config`` is the plugin's canonical method config (JSON-able); the original config file
    is stored verbatim as well, so keys we do not understand are never lost. ``files`` maps
    every relative path that belongs to the adapter to its role (one of ``FILE_ROLES``).
    """

    architecture: str
    format: str
    config: dict[str, Any]
    files: dict[str, str]
    variant: str | None = None
    name: str | None = None
    base_model: str | None = None
    model_type: str | None = None
    hidden_size: int | None = None
    task: str | None = None
    labels: list[str] | None = None
    license: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def files_with_role(self, role: str) -> list[str]:
        return [path for path, r in self.files.items() if r == role]


class Plugin(ABC):
    """What every plugin kind shares: a name, a description and the API version it targets."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    api_version: ClassVar[int] = PLUGIN_API_VERSION


class ArchitecturePlugin(Plugin):
    """An adapter method (LoRA, bottleneck, prefix tuning …).

    Import side (needed by ``hubcli add`` / ``pull``): ``detect`` and ``validate``. They read
    files only through ``AdapterFolder`` and tensor headers, never torch.
    """

    formats: ClassVar[tuple[str, ...]] = ()
    """Formats this plugin reads, e.g. ("peft", "adapterhub")."""

    compositions: ClassVar[frozenset[str]] = frozenset()
    """Composition blocks this method may take part in (names of composition plugins)."""

    @abstractmethod
    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        """Recognise this method's files in ``folder``; None when they are not ours.

        Raise ``AdapterFormatError`` when the files are clearly ours but broken (e.g. a PEFT
        config of our type with a malformed field), so the user learns what is wrong.
        """

    @abstractmethod
    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        """Check that the weight tensors agree with the config (names, shapes, ranks).

        ``tensors`` are those of the files with role ``weights``. Raise
        ``AdapterValidationError`` naming the tensor and the expected shape.
        """

    def parameter_count(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> int:
        """Number of trained parameters (default: every tensor of the weight files)."""
        return sum(info.numel for info in tensors.values())

    def supports_composition(self, block: str) -> bool:
        return block in self.compositions


class CompositionPlugin(Plugin):
    """A composition block (stack, split, parallel …); the routing contract comes with the
    compose engine."""


class ModelFamilyPlugin(Plugin):
    """A family of ``transformers`` models and where its insertion points are."""

    model_types: ClassVar[tuple[str, ...]] = ()

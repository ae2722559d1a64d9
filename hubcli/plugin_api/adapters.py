"""Adapters as a plugin sees them: detected in a folder, loaded from the registry, untrained.

``DetectedAdapter`` is what ``ArchitecturePlugin.detect`` returns on import (``hubcli add``);
``LoadedAdapter`` what the engine hands ``attach`` and the weight-space methods; an
``UntrainedAdapter`` is what a trainer starts from. Tensors appear only in annotations here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

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


@dataclass
class UntrainedAdapter:
    """A new adapter as the files its plugin reads (``ArchitecturePlugin.untrained``): training
    starts from these files and saves into them, so a trained adapter is detected, validated and
    attached exactly like an imported one. ``config`` is written as ``adapter_config.json``,
    ``tensors`` (initial values) as the safetensors file ``weights_file``."""

    config: dict[str, Any]
    weights_file: str
    tensors: dict[str, torch.Tensor]

    def write(self, folder: Path) -> Path:
        import json

        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "adapter_config.json").write_text(json.dumps(self.config, indent=2), encoding="utf-8")
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in self.tensors.items()},
            str(folder / self.weights_file),
        )
        return folder


@dataclass
class LoadedAdapter:
    """An adapter read back from the registry, ready to attach.

    ``config`` is the architecture's canonical config (``Adapter.method_config``);
    ``raw_config`` the original config file as stored; ``tensors`` the weight tensors with
    their original names; ``head_tensors`` those of separate head files (AdapterHub).
    """

    name: str
    architecture: str
    format: str
    config: dict[str, Any]
    raw_config: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    head_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    head_config: dict[str, Any] | None = None

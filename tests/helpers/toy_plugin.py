"""A minimal architecture plugin for tests of the registry, importer and CLI that must not
depend on the built-in formats: ``adapter_config.json`` with ``{"toy": {"size": N}}`` and one
tensor ``toy.weight`` of shape [N] in ``toy.safetensors``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from hubcli.plugin_api import (
    AdapterFolder,
    AdapterValidationError,
    ArchitecturePlugin,
    DetectedAdapter,
    TensorInfo,
)


class ToyArchitecture(ArchitecturePlugin):
    name = "toy"
    api_version = 2
    description = "A test-only architecture."
    formats = ("toy",)
    compositions = frozenset({"stack"})

    def detect(self, folder: AdapterFolder) -> DetectedAdapter | None:
        config = folder.read_json("adapter_config.json")
        if "toy" not in config:
            return None
        return DetectedAdapter(
            architecture="toy",
            format="toy",
            config={"size": config["toy"]["size"]},
            files={"adapter_config.json": "config", "toy.safetensors": "weights"},
            name=config.get("name"),
            base_model=config.get("base_model", "tiny-bert"),
        )

    def validate(self, adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
        info = tensors.get("toy.weight")
        if info is None or info.shape != (adapter.config["size"],):
            raise AdapterValidationError(f"toy.weight: expected shape [{adapter.config['size']}]")


def write_toy_adapter(folder: Path, size: int = 4, seed: int = 0, name: str | None = None) -> Path:
    """Write a toy adapter folder; different seeds give different content."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    config = {"toy": {"size": size}}
    if name:
        config["name"] = name
    (folder / "adapter_config.json").write_text(json.dumps(config))
    weights = np.random.default_rng(seed).standard_normal(size).astype(np.float32)
    save_file({"toy.weight": weights}, str(folder / "toy.safetensors"))
    return folder

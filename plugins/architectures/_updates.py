"""What the built-in plugins' ``write_updates`` share: writing the config and weight files of
an adapter made from updates, the way ``hubcli merge`` has always written them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from plugins.architectures._common import CONFIG_FILE


def write_adapter(
    folder: Path, config: dict[str, Any], weights_file: str, tensors: dict[str, torch.Tensor]
) -> None:
    """``adapter_config.json`` (indented, keys sorted: stable digests) and one safetensors file."""
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    save_file({key: tensor.contiguous() for key, tensor in tensors.items()}, str(folder / weights_file))

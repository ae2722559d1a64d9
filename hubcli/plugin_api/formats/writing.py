"""Writing adapter folders: the config as JSON and the weights as safetensors.

Two writers, for two callers whose bytes are pinned: ``write_config`` and ``write_weights`` write
what PEFT and ``adapters`` themselves write (a converted adapter must look like the library's
own), ``write_adapter_from_updates`` what ``hubcli merge`` has always written for a plugin's
``write_updates`` (a merge of the same inputs keeps its digest). Torch side: safetensors' torch
writer is imported when a function runs, not with this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.plugin_api.formats.reading import CONFIG_FILE

if TYPE_CHECKING:
    import torch


def write_config(folder: Path, data: dict[str, Any]) -> None:
    """``adapter_config.json`` as both libraries write it (indented, keys sorted, a final newline)."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    (folder / CONFIG_FILE).write_text(text, encoding="utf-8")


def write_weights(folder: Path, filename: str, tensors: dict[str, torch.Tensor]) -> None:
    """Weights as safetensors with the ``format: pt`` metadata transformers and PEFT expect."""
    from safetensors.torch import save_file

    save_file(
        {key: t.detach().contiguous() for key, t in tensors.items()},
        str(folder / filename),
        metadata={"format": "pt"},
    )


def write_adapter_from_updates(
    folder: Path, config: dict[str, Any], weights_file: str, tensors: dict[str, torch.Tensor]
) -> None:
    """An adapter made from per-module updates: ``adapter_config.json`` (indented, keys sorted:
    stable digests) and one safetensors file ``weights_file``."""
    from safetensors.torch import save_file

    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    save_file({key: tensor.contiguous() for key, tensor in tensors.items()}, str(folder / weights_file))

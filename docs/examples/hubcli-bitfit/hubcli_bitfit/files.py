"""Writing BitFit folders and averaging their parameters (torch, safetensors)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from hubcli.errors import HubcliError
from safetensors.torch import save_file

from hubcli_bitfit.config import CONFIG_FILE, WEIGHTS_FILE, BitFitConfig, BitFitFile, module_of


def write_folder(
    folder: str | Path, config: BitFitFile, deltas: Mapping[str, torch.Tensor], head: Mapping[str, torch.Tensor]
) -> None:
    canonical = BitFitConfig(targets=config.targets, modules_to_save=config.modules_to_save)
    bad = [name for name in deltas if module_of(name) is None]
    if bad or not deltas:
        raise HubcliError(f"save_bitfit: deltas must be named '<module>.bias' (got {bad or 'none'})")
    stray = [name for name in head if canonical.saved_module_of(name) is None]
    if stray:
        raise HubcliError(f"save_bitfit: head tensor {stray[0]!r} is in none of modules_to_save {config.modules_to_save}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_FILE).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tensors = {name: tensor.detach().to("cpu", torch.float32).contiguous() for name, tensor in {**deltas, **head}.items()}
    save_file(tensors, str(out / WEIGHTS_FILE))


def weighted_sum(
    adapters: list[Mapping[str, torch.Tensor]], weights: list[float] | None
) -> dict[str, torch.Tensor]:
    if not adapters:
        raise HubcliError("average_bitfit: no adapters given")
    weights = weights if weights is not None else [1.0 / len(adapters)] * len(adapters)
    if len(weights) != len(adapters):
        raise HubcliError(f"average_bitfit: {len(weights)} weights for {len(adapters)} adapters")
    result: dict[str, torch.Tensor] = {}
    for deltas, weight in zip(adapters, weights, strict=True):
        for name, delta in deltas.items():
            result[name] = result.get(name, torch.zeros_like(delta)) + weight * delta
    return result

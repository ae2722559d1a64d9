"""Writing BitFit folders and averaging their parameters (torch, safetensors)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from hubcli.errors import HubcliError
from safetensors.torch import save_file

from hubcli_bitfit.config import CONFIG_FILE, FORMAT_VERSION, METHOD, WEIGHTS_FILE, module_of


def write_folder(
    folder: str | Path, deltas: Mapping[str, torch.Tensor], targets: list[str], metadata: Mapping[str, str | None]
) -> None:
    unknown = set(metadata) - {"base_model", "model_type", "task_type"}
    if unknown:
        raise HubcliError(f"save_bitfit: unknown metadata {sorted(unknown)} (base_model, model_type, task_type)")
    bad = [name for name in deltas if module_of(name) is None]
    if bad or not deltas:
        raise HubcliError(f"save_bitfit: deltas must be named '<module>.bias' (got {bad or 'none'})")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    config = {"method": METHOD, "format_version": FORMAT_VERSION, "targets": list(targets), **metadata}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tensors = {name: delta.detach().to("cpu", torch.float32).contiguous() for name, delta in deltas.items()}
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

"""Writing BitFit folders (from deltas, or from a merge's updates) and averaging their
parameters (torch, safetensors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from hubcli.plugin_api import (
    CapabilityNotSupported,
    HubcliError,
    LoadedAdapter,
    ModuleUpdate,
    ParameterUpdate,
)
from safetensors.torch import save_file

from hubcli_bitfit.config import CONFIG_FILE, METHOD, WEIGHTS_FILE, BitFitConfig, BitFitFile, module_of


def write_folder(
    folder: str | Path,
    config: BitFitFile,
    deltas: Mapping[str, torch.Tensor],
    head: Mapping[str, torch.Tensor],
) -> None:
    canonical = BitFitConfig(targets=config.targets, modules_to_save=config.modules_to_save)
    bad = [name for name in deltas if module_of(name) is None]
    if bad or not deltas:
        raise HubcliError(f"save_bitfit: deltas must be named '<module>.bias' (got {bad or 'none'})")
    stray = [name for name in head if canonical.saved_module_of(name) is None]
    if stray:
        raise HubcliError(
            f"save_bitfit: head tensor {stray[0]!r} is in none of modules_to_save {config.modules_to_save}"
        )
    held = {found[0] for name in head if (found := canonical.saved_module_of(name))}
    empty = [module for module in config.modules_to_save if module not in held]
    if empty:
        raise HubcliError(f"save_bitfit: modules_to_save lists {empty[0]!r} but no head tensor belongs to it")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_FILE).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tensors = {
        name: tensor.detach().to("cpu", torch.float32).contiguous()
        for name, tensor in {**deltas, **head}.items()
    }
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


def write_updates(
    updates: Sequence[ModuleUpdate],
    folder: Path,
    sources: Sequence[LoadedAdapter],
    saved: Mapping[str, torch.Tensor],
) -> None:
    """The reverse of ``BitFitArchitecture.module_updates`` (``hubcli merge`` writes its result
    with it)."""
    deltas = {}
    for update in updates:
        if not isinstance(update, ParameterUpdate) or set(update.tensors) != {"bias"} or update.part:
            raise CapabilityNotSupported(
                f"bitfit: {type(update).__name__} at {update.module!r} is not a bias delta; BitFit writes only those"
            )
        deltas[f"{update.module}.bias"] = update.tensors["bias"]
    configs = [BitFitConfig.model_validate(source.config) for source in sources]
    differing = next((s.name for s, c in zip(sources, configs, strict=True) if c != configs[0]), None)
    if differing is not None:
        raise CapabilityNotSupported(
            f"bitfit: {sources[0].name!r} and {differing!r} differ in targets or modules_to_save"
        )
    raw = sources[0].raw_config
    config = BitFitFile(
        method=METHOD,
        targets=configs[0].targets,
        modules_to_save=configs[0].modules_to_save,
        base_model=raw.get("base_model"),
        model_type=raw.get("model_type"),
        task_type=raw.get("task_type"),
    )
    write_folder(folder, config, deltas, saved)

"""LoRA as format-neutral updates (``ArchitecturePlugin.module_updates``) and back.

Reading: one ``LowRankUpdate`` (ΔW = s·B·A, s from ``LoraConfig.scaling_for``) per wrapped
module, from PEFT's ``base_model.model.<path>.lora_A.weight`` or AdapterHub's
``<path>.loras.<name>.lora_A``. AdapterHub stacks one pair per enabled q/k/v in a fused
projection (GPT-2's ``c_attn``: A [n·r, in], B [n·out, r]); block g is the update of the g-th
enabled third, so it becomes its own update with ``part`` set. A bias on B rides along with its
pair; base biases trained with the adapter (PEFT ``bias``) are ``ParameterUpdate``s. Options
whose effect is not a fixed ΔW = s·B·A (DoRA, gating, convolutions) are refused.

Writing: always PEFT's layout, which PEFT and the engine both run and which can say per-module
ranks (``rank_pattern``/``alpha_pattern`` on exact paths); each update's scaling is folded into
B, so the file's scaling is 1 (alpha = rank) everywhere.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hubcli.plugin_api import (
    CapabilityNotSupported,
    LoadedAdapter,
    LowRankUpdate,
    ModuleUpdate,
    ParameterUpdate,
)
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.adapterhub import QKV_ORDER, lora_family_tensors
from hubcli.plugin_api.formats.writing import write_adapter_from_updates
from plugins.architectures.lora.config import LoraConfig
from plugins.architectures.lora.formats import PEFT_PARTS

EMBEDDING_PARTS = ("lora_embedding_A", "lora_embedding_B")


def module_updates(adapter: LoadedAdapter) -> list[ModuleUpdate]:
    config = LoraConfig.model_validate(adapter.config)
    _refuse_non_linear(adapter, config)
    if adapter.format == peft.FORMAT:
        pairs = _peft_pairs(adapter)
    else:
        pairs = {
            path: _hub_pair(adapter, path, params) for path, params in lora_family_tensors(adapter).items()
        }
    updates = _base_biases(adapter, config)
    for path, pair in pairs.items():
        if not {"A", "B"} <= set(pair):
            raise CapabilityNotSupported(f"adapter {adapter.name!r}: module {path!r} lacks lora_A or lora_B")
        if pair["A"].dim() != 2:
            raise CapabilityNotSupported(
                f"adapter {adapter.name!r}: {path!r} is a convolution LoRA, not a ΔW = s·B·A matrix"
            )
        updates += _split_fused(config, path, pair["A"], pair["B"], pair.get("B_bias"))
    return updates


def _refuse_non_linear(adapter: LoadedAdapter, config: LoraConfig) -> None:
    """Options under which the adapter's effect is not a fixed ΔW = s·B·A."""
    refusals = (
        (
            config.use_dora,
            "is a DoRA (use_dora is set): it rescales W + ΔW per row by the base weights' norms",
        ),
        (config.use_gating, "is a gated LoRA (use_gating is set): a learned gate scales ΔW per token"),
    )
    for present, why in refusals:
        if present:
            raise CapabilityNotSupported(f"adapter {adapter.name!r} {why}: not a plain ΔW = s·B·A")


def _peft_pairs(adapter: LoadedAdapter) -> dict[str, dict[str, torch.Tensor]]:
    """Module path → {"A", "B", "B_bias"}; saved modules and base biases are not factors."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in adapter.tensors.items():
        for suffix, part in PEFT_PARTS.items():
            module = peft.module_of(key, suffix)
            if module is not None and part in ("A", "B", "B_bias"):
                pairs.setdefault(module, {})[part] = tensor
                break
    return pairs


def _base_biases(adapter: LoadedAdapter, config: LoraConfig) -> list[ModuleUpdate]:
    """PEFT ``bias="all" | "lora_only"``: the base layers' biases, trained and saved whole."""
    if config.bias == "none":
        return []
    return [
        ParameterUpdate(module=module, tensors={"bias": tensor})
        for key, tensor in adapter.tensors.items()
        if (module := peft.module_of(key, "bias")) is not None
        and not key.endswith(".lora_B.bias")
        and not peft.saved_module(key, config.modules_to_save)
    ]


def _hub_pair(adapter: LoadedAdapter, path: str, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{"A", "B"} from ``lora_A`` / ``lora_B``; DoRA magnitudes and gates were refused before."""
    unknown = set(params) - {"lora_A", "lora_B"}
    if unknown:
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: AdapterHub LoRA parameters {sorted(unknown)} at {path!r} "
            "are not part of a ΔW = s·B·A"
        )
    return {param[-1]: tensor for param, tensor in params.items()}


def _split_fused(
    config: LoraConfig, path: str, a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None
) -> list[LowRankUpdate]:
    """One update, or one per enabled q/k/v when AdapterHub stacked them (module docstring)."""
    scaling = config.scaling_for(path)
    targets = config.targets
    enabled = [m for m in QKV_ORDER if m in getattr(targets, "attn_matrices", ())]
    rank, count = config.r, len(enabled)
    if not (isinstance(targets, adapterhub.AdapterHubTargets) and count > 1 and a.shape[0] == rank * count):
        return [LowRankUpdate(module=path, A=a, B=b, scaling=scaling, bias=bias)]
    out = b.shape[0] // count
    return [
        LowRankUpdate(
            module=path,
            part=matrix,
            A=a[g * rank : (g + 1) * rank],
            B=b[g * out : (g + 1) * out],
            scaling=scaling,
        )
        for g, matrix in enumerate(enabled)
    ]


def write_updates(
    updates: Sequence[ModuleUpdate],
    folder: Path,
    *,
    sources: Sequence[LoadedAdapter],
    name: str,
    saved: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """``updates`` as a PEFT LoRA, with the first source's options (module docstring). PEFT's
    layout names the adapter nowhere, so ``name`` is not written."""
    saved = saved or {}
    factors = {update.module: _writable(update, sources[0]) for update in updates}
    if len({LoraConfig.model_validate(source.config).fan_in_fan_out for source in sources}) > 1:
        raise CapabilityNotSupported("the inputs disagree on fan_in_fan_out (Conv1D orientation)")
    tensors = {}
    for path, update in factors.items():
        tensors[f"{peft.MODULE_PREFIX}{path}.lora_A.weight"] = update.A.contiguous()
        tensors[f"{peft.MODULE_PREFIX}{path}.lora_B.weight"] = (update.scaling * update.B).contiguous()
    first = sources[0]
    config = _peft_config(
        first, LoraConfig.model_validate(first.config), {p: u.rank for p, u in factors.items()}, bool(saved)
    )
    write_adapter_from_updates(folder, config, peft.WEIGHT_FILES[0], {**tensors, **saved})


def _writable(update: ModuleUpdate, first: LoadedAdapter) -> LowRankUpdate:
    """``update`` if PEFT's LoRA layout can say it (a whole linear module's ΔW)."""
    if not isinstance(update, LowRankUpdate) or update.part is not None or update.bias is not None:
        raise CapabilityNotSupported(
            f"{update.module!r}: only whole-module low-rank updates without a bias can be written as LoRA"
        )
    embedding = f"{peft.MODULE_PREFIX}{update.module}.{EMBEDDING_PARTS[0]}"
    if embedding in first.tensors:
        raise CapabilityNotSupported(
            f"{update.module!r} is an embedding LoRA: writing embedding LoRAs is not supported yet"
        )
    return update


def _peft_envelope(first: LoadedAdapter, options: LoraConfig) -> dict[str, Any]:
    """PEFT's keys around the method when the first source was saved by AdapterHub."""
    return {
        "peft_type": "LORA",
        "task_type": None,
        "base_model_name_or_path": first.raw_config.get("model_name"),
        "inference_mode": True,
        "lora_dropout": options.dropout,
        "fan_in_fan_out": False,
    }


def _peft_config(
    first: LoadedAdapter, options: LoraConfig, ranks: dict[str, int], with_saved: bool
) -> dict[str, Any]:
    """The first source's PEFT config with what changed: exact module paths as targets,
    scaling 1 everywhere (alpha = rank), per-module ranks as patterns."""
    common = Counter(ranks.values()).most_common(1)[0][0]
    patterns = {re.escape(path): rank for path, rank in sorted(ranks.items()) if rank != common}
    config = dict(first.raw_config) if first.format == peft.FORMAT else _peft_envelope(first, options)
    config.update(
        peft_type="LORA",
        r=common,
        lora_alpha=common,
        rank_pattern=patterns,
        alpha_pattern=dict(patterns),
        target_modules=sorted(ranks),
        exclude_modules=None,
        layers_to_transform=None,
        layers_pattern=None,
        use_rslora=False,
        use_dora=False,
        lora_bias=False,
        bias="none",
        modules_to_save=options.modules_to_save if with_saved else None,
        init_lora_weights=True,
    )
    return config

"""Merging IA³ vectors: the task vector of a scaling vector l is its deviation l − 1.

IA³ multiplies an activation by l, so "no adaptation" is l = 1, not l = 0. We therefore merge
τᵢ = lᵢ − 1 with the chosen method and store l = 1 + merged τ. For linear merging (weights
summing to 1) this equals the weighted mean Σ wᵢ lᵢ, which is what PEFT's
``add_weighted_adapter`` computes for IA³; for task arithmetic, TIES and DARE, whose weights need
not sum to 1 and which zero out entries, only the deviation form is right: PEFT's Σ wᵢ lᵢ with
weights 1, 1 would double every activation that neither input changed.

The result is exact as a merge of vectors but, like every weight-space merge, only an
approximation of running the inputs together (stacking two IA³ adapters multiplies, l₁·l₂).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from hubcli.merge.merged import MergedAdapter, average_saved_modules, same_layout, split_saved_modules
from hubcli.merge.spec import MergeError, MergeSpec
from hubcli.merge.task_vectors import combine
from hubcli.plugin_api import LoadedAdapter

PREFIX = "base_model.model."
SUFFIX = ".ia3_l"
WEIGHTS_FILE = "adapter_model.safetensors"
HUB_KEY = re.compile(r"^(?P<module>.+)\.loras\.[^.]+\.lora_B$")


def is_feedforward(config: dict[str, Any], module: str) -> bool:
    """PEFT's rule (as the IA³ plugin applies it): a regex must match the whole path, a list
    matches by suffix. Feed-forward vectors scale a module's input, the others its output."""
    rule = config.get("feedforward_modules")
    if isinstance(rule, str):
        return re.fullmatch(rule, module) is not None
    return any(module.endswith(suffix) for suffix in rule or [])


def vectors_of(adapter: LoadedAdapter, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Module path → its effective scaling vector ([out, 1], or [1, in] for PEFT's feed-forward
    modules) from the IA³ ``tensors``. AdapterHub saves ``<module>.loras.<name>.lora_B`` and
    scales outputs only, by the vector times the config's ``scale`` (alpha), folded in here."""
    if adapter.config.get("use_gating"):
        raise MergeError(
            f"adapter {adapter.name!r}: a learned gate scales its vectors per token; cannot merge"
        )
    vectors = {}
    for key, tensor in tensors.items():
        if adapter.format == "adapterhub" and (found := HUB_KEY.match(key)):
            vectors[found["module"]] = tensor.to(torch.float64) * float(adapter.config.get("scale", 1.0))
        elif adapter.format == "peft" and key.startswith(PREFIX) and key.endswith(SUFFIX):
            vectors[key[len(PREFIX) : -len(SUFFIX)]] = tensor.to(torch.float64)
        else:
            raise MergeError(f"adapter {adapter.name!r}: tensor {key!r} is not an IA³ vector")
    return vectors


def merge(adapters: Sequence[LoadedAdapter], spec: MergeSpec) -> MergedAdapter:
    if spec.rank is not None or spec.exact:
        raise MergeError("--rank and --exact apply to LoRA; IA³ vectors merge entry by entry")
    split = [split_saved_modules(adapter) for adapter in adapters]
    groups = [vectors_of(adapter, own) for adapter, (own, _) in zip(adapters, split, strict=True)]
    paths = same_layout(
        [a.name for a in adapters], [{m: tuple(v.shape) for m, v in g.items()} for g in groups], "modules"
    )
    for adapter in adapters[1:]:
        for path in paths:
            if is_feedforward(adapter.config, path) != is_feedforward(adapters[0].config, path):
                raise MergeError(
                    f"{adapters[0].name!r} and {adapter.name!r} disagree on whether {path!r} scales "
                    "its input or its output (feedforward_modules)"
                )
    saved = average_saved_modules(adapters, [s for _, s in split], spec)
    generator = torch.Generator().manual_seed(spec.seed)
    tensors = {}
    for path in paths:
        merged = 1.0 + combine([group[path] - 1.0 for group in groups], spec, generator)
        tensors[f"{PREFIX}{path}{SUFFIX}"] = merged.to(torch.float32).contiguous()
    first = adapters[0]
    config = dict(first.raw_config) if first.format == "peft" else _peft_envelope(first)
    config.update(
        peft_type="IA3",
        target_modules=paths,
        feedforward_modules=[path for path in paths if is_feedforward(adapters[0].config, path)],
        exclude_modules=None,
        modules_to_save=adapters[0].config.get("modules_to_save") if saved else None,
    )
    summary = {"rule": "l = 1 + merge(lᵢ − 1)", "modules": len(paths)}
    if saved:
        summary["saved_modules"] = "averaged (model soup, an approximation)"
    return MergedAdapter(config, WEIGHTS_FILE, {**tensors, **saved}, summary)


def _peft_envelope(first: LoadedAdapter) -> dict[str, Any]:
    """PEFT's keys around the method for a merge of AdapterHub IA³ adapters (written in PEFT
    layout, which PEFT and the engine both run)."""
    return {
        "peft_type": "IA3",
        "task_type": None,
        "base_model_name_or_path": first.raw_config.get("model_name"),
        "inference_mode": True,
        "fan_in_fan_out": False,
    }

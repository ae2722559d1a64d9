"""Reading LoRA adapters saved by PEFT and by AdapterHub, and checking their tensors."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import PositiveInt

from hubcli.plugin_api import AdapterFolder, DetectedAdapter, TensorInfo
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.reading import CONFIG_FILE, Checker, parse, unsupported
from plugins.architectures.lora.config import LoraConfig

ARCHITECTURE = "lora"


class PeftLoraFile(peft.StrictFile):
    """The keys of PEFT's LoraConfig that change the maths (PEFT's defaults)."""

    r: PositiveInt = 8
    lora_alpha: float = 8
    target_modules: list[str] | str | None = None
    exclude_modules: list[str] | str | None = None
    layers_to_transform: list[int] | int | None = None
    layers_pattern: list[str] | str | None = None
    rank_pattern: dict[str, PositiveInt] | None = None
    alpha_pattern: dict[str, float] | None = None
    use_rslora: bool = False
    use_dora: bool = False
    fan_in_fan_out: bool = False
    bias: Literal["none", "all", "lora_only"] = "none"
    lora_bias: bool = False
    lora_dropout: float = 0.0


PEFT_UNSUPPORTED = {
    "use_qalora": "QA-LoRA (use_qalora)",
    "layer_replication": "layer replication (layer_replication)",
    "target_parameters": "LoRA on bare parameters (target_parameters)",
    "alora_invocation_tokens": "activated LoRA (alora_invocation_tokens)",
    "trainable_token_indices": "trainable tokens (trainable_token_indices)",
}
BASE_MODIFYING_INITS = ("pissa", "corda", "olora", "loftq", "lora_ga")
"""Initialisations that also rewrite the base weights: such an adapter only works on the base
model PEFT modified, unless it was saved with ``path_initial_model_for_weight_conversion``
(which rewrites ``init_lora_weights`` to true)."""


def from_peft(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    where = folder.where(CONFIG_FILE)
    for key, what in PEFT_UNSUPPORTED.items():
        if raw.get(key):
            raise unsupported(where, what)
    init = raw.get("init_lora_weights")
    if isinstance(init, str) and init.lower().startswith(BASE_MODIFYING_INITS):
        raise unsupported(
            where,
            f"init_lora_weights={init!r}",
            "the adapter needs the base weights PEFT changed at init; "
            "save it with path_initial_model_for_weight_conversion",
        )
    found = parse(PeftLoraFile, raw, where)
    config = LoraConfig(
        r=found.r,
        alpha=found.lora_alpha,
        scaling_rule="alpha/sqrt(r)" if found.use_rslora else "alpha/r",
        targets=peft.PeftTargets(
            target_modules=found.target_modules,
            exclude_modules=found.exclude_modules,
            layers_to_transform=peft.layers_list(found.layers_to_transform),
            layers_pattern=found.layers_pattern,
        ),
        rank_pattern=found.rank_pattern or {},
        alpha_pattern=found.alpha_pattern or {},
        fan_in_fan_out=found.fan_in_fan_out,
        use_dora=found.use_dora,
        bias=found.bias,
        lora_bias=found.lora_bias,
        modules_to_save=found.saved_modules(),
        dropout=found.lora_dropout,
    )
    flags = [name for name, on in (("rslora", found.use_rslora), ("dora", found.use_dora)) if on]
    variant = "-".join(flags) or "lora"
    return peft.detected(folder, raw, architecture=ARCHITECTURE, config=config, variant=variant)


def from_adapterhub(folder: AdapterFolder, raw: dict[str, Any]) -> DetectedAdapter:
    envelope = adapterhub.envelope_of(folder, raw)
    found = adapterhub.read_lora_family(folder, envelope)
    config = LoraConfig(
        r=found.r,
        alpha=found.alpha,
        scaling_rule="1" if envelope.unit_scaling() else "alpha/r",
        targets=found.targets(),
        use_dora=found.use_dora,
        dropout=found.dropout,
        use_gating=found.use_gating,
    )
    variant = "dora" if found.use_dora else "lora"
    return adapterhub.detected(folder, envelope, architecture=ARCHITECTURE, config=config, variant=variant)


PEFT_PARTS = {
    "lora_A.weight": "A",
    "lora_B.weight": "B",
    "lora_embedding_A": "A",
    "lora_embedding_B": "B",
    "lora_B.bias": "B_bias",
    "lora_magnitude_vector": "magnitude",
    "lora_magnitude_vector.weight": "magnitude",
}
HUB_PARTS = {
    "lora_A": "A",
    "lora_B": "B",
    "m.weight": "magnitude",
    "gate.weight": "gate",
    "gate.bias": "gate",
}


def validate_peft(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    config = LoraConfig.model_validate(adapter.config)
    check = Checker(adapter, tensors)
    modules: dict[str, dict[str, str]] = defaultdict(dict)
    for name in tensors:
        for suffix, part in PEFT_PARTS.items():
            module = peft.module_of(name, suffix)
            if module is not None:
                modules[module][part] = name
                break
        else:
            if peft.saved_module(name, config.modules_to_save):
                continue
            if config.bias != "none" and name.endswith(".bias"):
                continue
            raise check.unexpected(name, "not a LoRA weight, a trained bias or a module to save")
    check.require_some(list(modules), "LoRA (lora_A/lora_B)")
    for module, parts in modules.items():
        rank = config.rank_for(module)
        _check_pair(check, module, parts, rank)
        out = tensors[parts["B"]].shape[0]
        _check_optional(check, parts, "magnitude", config.use_dora, (out,), "use_dora")
        _check_optional(check, parts, "B_bias", config.lora_bias, (out,), "lora_bias")


def validate_adapterhub(adapter: DetectedAdapter, tensors: Mapping[str, TensorInfo]) -> None:
    config = LoraConfig.model_validate(adapter.config)
    targets = config.targets
    assert isinstance(targets, adapterhub.AdapterHubTargets)
    check = Checker(adapter, tensors)
    modules = adapterhub.lora_family_modules(check, targets.leave_out, HUB_PARTS, "LoRA")
    check.require_some(list(modules), "LoRA (….loras.<name>.lora_A/lora_B)")
    for module, parts in modules.items():
        _check_pair(check, module, parts, config.r, targets.merged_heads())
        out = tensors[parts["B"]].shape[0]
        _check_optional(check, parts, "magnitude", config.use_dora, (out, 1), "use_dora")
        if "gate" in parts and not config.use_gating:
            raise check.unexpected(parts["gate"], "the config has use_gating false")


def _check_pair(check: Checker, module: str, parts: dict[str, str], rank: int, merged: int = 1) -> None:
    """Every A has its B: A is [r, in, …] and B is [out, r, …] (convolutions add kernel dims).
    A fused QKV projection (``merged`` > 1 of q, k, v) stacks one A per matrix: [r·n, in]."""
    if "A" not in parts or "B" not in parts:
        have = parts.get("A") or parts.get("B") or next(iter(parts.values()))
        missing = "lora_B" if "A" in parts else "lora_A"
        raise check.fail(f"tensor {have!r} has no matching {missing} (module {module!r})")
    a_shape = check.tensors[parts["A"]].shape
    rows = rank * merged if merged > 1 and a_shape[:1] == (rank * merged,) else rank
    dims = max(len(a_shape), 2)
    check.shape(parts["A"], (rows,) + (None,) * (dims - 1), f"lora_A is [r, in] with r={rank}")
    check.shape(parts["B"], (None, rank) + (None,) * (dims - 2), f"lora_B is [out, r] with r={rank}")


def _check_optional(
    check: Checker,
    parts: dict[str, str],
    part: str,
    wanted: bool,
    shape: tuple[int, ...],
    option: str,
) -> None:
    """A tensor that exists exactly when ``option`` is on, with ``shape``."""
    if wanted and part not in parts:
        raise check.fail(f"{option} is set but {parts['B']!r} has no {part} tensor beside it")
    if part in parts:
        if not wanted:
            raise check.unexpected(parts[part], f"the config has {option} false")
        check.shape(parts[part], shape, f"{part} has one entry per output of {parts['B']!r}")

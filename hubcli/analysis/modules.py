"""An adapter's weights grouped per target module, under keys that PEFT and AdapterHub share.

PEFT names a LoRA weight ``base_model.model.bert.encoder.layer.3.attention.self.query.lora_A.weight``,
AdapterHub ``encoder.layer.3.attention.self.query.loras.<name>.lora_A``. Both become the module
key ``layer.3.q``: the layer index, then the short name the model-family plugin gives the
projection (q, k, v, o, ffn_in, ffn_out, qkv) or, when it has none, the module path inside the
layer. Keys that agree are what makes two adapters comparable whatever format or model class
(with or without a task head prefix) they were saved from.

LoRA modules keep their factors (ΔW = s·B·A is never formed); every other method is compared on
its parameters flattened into one vector per module. Reading the canonical config here (rather
than importing the LoRA plugin) keeps ``hubcli`` independent of ``plugins``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from hubcli.errors import HubcliError
from hubcli.plugin_api import LoadedAdapter
from registry import Registry

PEFT_PREFIX = "base_model.model."
PEFT_LORA_PARTS = {
    "lora_A.weight": "A",
    "lora_B.weight": "B",
    "lora_embedding_A": "A",
    "lora_embedding_B": "B",
}
HUB_CONTAINER = re.compile(
    r"^(?P<module>.+?)\.(?:adapters|loras|prefix_tunings|prompt_tunings)\.(?P<name>[^.]+)\.(?P<param>.+)$"
)
"""AdapterHub: ``<module path>.<container>.<adapter name>.<parameter>``."""
QKV_ORDER = ("q", "k", "v")


class IncomparableAdapters(HubcliError):
    """Adapters whose weights do not live in the same space (other method, base, shapes)."""

    title = "Cannot compare"


@dataclass(frozen=True)
class LowRankFactors:
    """ΔW = scaling · B · A for one module: A is [r, in], B is [out, r]."""

    a: torch.Tensor
    b: torch.Tensor
    scaling: float

    @property
    def shape(self) -> tuple[int, int]:
        return (self.b.shape[0], self.a.shape[1])


@dataclass
class AdapterWeights:
    """One adapter's comparable weights: ``modules`` maps a module key to LoRA factors or (for
    non-low-rank methods) a flat parameter vector."""

    name: str
    architecture: str
    base_model: str | None
    model_type: str | None
    modules: dict[str, LowRankFactors | torch.Tensor] = field(default_factory=dict)

    @property
    def low_rank(self) -> bool:
        return any(isinstance(m, LowRankFactors) for m in self.modules.values())

    def restricted(self, keys: Iterable[str]) -> AdapterWeights:
        """The same adapter with only the modules ``keys``."""
        kept = {key: self.modules[key] for key in keys}
        return AdapterWeights(self.name, self.architecture, self.base_model, self.model_type, kept)


def module_key(path: str, short_names: dict[str, str]) -> str:
    """``layer.{i}.{name}`` for a module inside layer i, else the path itself."""
    found = _first_layer(path)
    if found is None:
        return path
    index, inner = found
    return f"layer.{index}.{short_names.get(inner, inner)}"


def _first_layer(path: str) -> tuple[int, str] | None:
    """(layer index, path inside the layer) from the first numeric component of ``path``."""
    parts = path.split(".")
    for position, part in enumerate(parts):
        if part.isdigit() and position + 1 < len(parts):
            return int(part), ".".join(parts[position + 1 :])
    return None


def short_names_for(model_type: str | None) -> dict[str, str]:
    """Module path inside a layer → short name, from the family plugin's insertion points."""
    if not model_type:
        return {}
    from hubcli.engine.families import family_for

    try:
        points = family_for(model_type).points
    except HubcliError:
        return {}
    names = {points.o: "o", points.ffn_out: "ffn_out"}
    several = len(points.ffn_in) > 1
    names.update(
        {path: f"ffn_in.{path.rsplit('.', 1)[-1]}" if several else "ffn_in" for path in points.ffn_in}
    )
    for short in ("q", "k", "v", "qkv"):
        if path := getattr(points, short):
            names[path] = short
    return names


def matrix_of(key: str) -> str:
    """The part of a module key after ``layer.{i}.``: what ``--matrices`` filters on."""
    pieces = key.split(".", 2)
    return pieces[2] if len(pieces) == 3 and pieces[0] == "layer" and pieces[1].isdigit() else key


def registry_weights(registry: Registry, name: str) -> AdapterWeights:
    """Registry adapter ``name``'s comparable weights."""
    from hubcli.engine import read_adapter

    row = registry.get_adapter(name)
    return adapter_weights(read_adapter(registry, name), row.base_model, row.model_type)


def adapter_weights(adapter: LoadedAdapter, base_model: str | None, model_type: str | None) -> AdapterWeights:
    """Group ``adapter``'s tensors per module; LoRA as factors, anything else as vectors."""
    names = short_names_for(model_type)
    result = AdapterWeights(adapter.name, adapter.architecture, base_model, model_type)
    if adapter.architecture == "lora":
        _refuse_non_linear_lora(adapter)
        result.modules = _lora_modules(adapter, names)
    else:
        result.modules = _vector_modules(adapter, names)
    if not result.modules:
        raise IncomparableAdapters(f"adapter {adapter.name!r} has no weights to compare")
    return result


def _refuse_non_linear_lora(adapter: LoadedAdapter) -> None:
    """DoRA rescales W + ΔW by the base weights' norms and a gate depends on the input: neither is
    a fixed low-rank ΔW, and comparing s·B·A alone would be silently wrong."""
    for option, what in (("use_dora", "DoRA"), ("use_gating", "gated LoRA")):
        if adapter.config.get(option):
            raise IncomparableAdapters(
                f"adapter {adapter.name!r} is a {what}: its update is not a fixed ΔW = s·B·A, "
                "so weight distances are not defined for it"
            )


def lora_scaling(config: dict[str, Any], module: str) -> float:
    """s in ΔW = s·B·A for ``module``, from the canonical LoRA config (PEFT's pattern rule:
    the first key matching the end of the module path wins)."""
    rule = config.get("scaling_rule", "alpha/r")
    if rule == "1":
        return 1.0
    rank = _pattern(config.get("rank_pattern") or {}, module, config["r"])
    alpha = _pattern(config.get("alpha_pattern") or {}, module, config["alpha"])
    return alpha / rank**0.5 if rule == "alpha/sqrt(r)" else alpha / rank


def _pattern(patterns: dict[str, Any], module: str, default: Any) -> Any:
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def _lora_modules(adapter: LoadedAdapter, names: dict[str, str]) -> dict[str, LowRankFactors]:
    parts: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for tensor_name, tensor in adapter.tensors.items():
        found = _lora_part(tensor_name)
        if found is not None:
            parts[found[0]][found[1]] = tensor
    modules: dict[str, LowRankFactors] = {}
    for path, pair in parts.items():
        if set(pair) != {"A", "B"}:
            raise IncomparableAdapters(f"adapter {adapter.name!r}: module {path!r} lacks lora_A or lora_B")
        scaling = lora_scaling(adapter.config, path)
        for key, factors in _split_fused(adapter, path, pair["A"], pair["B"], scaling, names):
            modules[key] = factors
    return modules


def _lora_part(tensor_name: str) -> tuple[str, str] | None:
    """(module path, "A" or "B") of a LoRA factor in either format; None for anything else
    (biases, saved heads: not part of ΔW)."""
    if tensor_name.startswith(PEFT_PREFIX):
        for suffix, part in PEFT_LORA_PARTS.items():
            if tensor_name.endswith("." + suffix):
                return tensor_name[len(PEFT_PREFIX) : -len(suffix) - 1], part
        return None
    found = HUB_CONTAINER.match(tensor_name)
    if found and found["param"] in ("lora_A", "lora_B"):
        return found["module"], found["param"][-1]
    return None


def _split_fused(
    adapter: LoadedAdapter,
    path: str,
    a: torch.Tensor,
    b: torch.Tensor,
    scaling: float,
    names: dict[str, str],
) -> list[tuple[str, LowRankFactors]]:
    """AdapterHub puts one LoRA per enabled q/k/v into a fused projection (GPT-2's c_attn):
    A stacks the n A's ([n·r, in]) and B the n B's ([n·out, r]); block g acts on the g-th
    enabled third. Each block is its own module (``layer.i.q`` …), like separate projections."""
    key = module_key(path, names)
    targets = adapter.config.get("targets") or {}
    enabled = [m for m in QKV_ORDER if m in (targets.get("attn_matrices") or [])]
    rank = adapter.config["r"]
    count = len(enabled)
    fused = targets.get("kind") == "adapterhub" and count > 1 and a.shape[0] == rank * count
    if not fused:
        return [(key, LowRankFactors(a, b, scaling))]
    found = _first_layer(path)
    prefix = f"layer.{found[0]}." if found else ""
    out = b.shape[0] // count
    return [
        (
            prefix + matrix,
            LowRankFactors(a[g * rank : (g + 1) * rank], b[g * out : (g + 1) * out], scaling),
        )
        for g, matrix in enumerate(enabled)
    ]


def _vector_modules(adapter: LoadedAdapter, names: dict[str, str]) -> dict[str, torch.Tensor]:
    """Every parameter, grouped per module and concatenated in parameter-name order."""
    saved = adapter.raw_config.get("modules_to_save") or []
    grouped: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for tensor_name, tensor in adapter.tensors.items():
        path, param = _module_and_param(tensor_name)
        if any(f".{module}." in f".{path}." for module in saved):
            continue
        grouped[module_key(path, names)][param] = tensor
    return {
        key: torch.cat([params[p].reshape(-1) for p in sorted(params)]) for key, params in grouped.items()
    }


def _module_and_param(tensor_name: str) -> tuple[str, str]:
    found = HUB_CONTAINER.match(tensor_name)
    if found:
        return found["module"], found["param"]
    path = tensor_name.removeprefix(PEFT_PREFIX)
    pieces = path.split(".")
    cut = 2 if pieces[-1] in ("weight", "bias") and len(pieces) > 2 else 1
    return ".".join(pieces[:-cut]), ".".join(pieces[-cut:])

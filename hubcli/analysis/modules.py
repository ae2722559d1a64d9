"""An adapter's weights grouped per target module, under keys that PEFT and AdapterHub share.

The architecture plugin describes what the adapter changes per module (``module_updates``:
format-neutral, scalings applied, AdapterHub's fused q/k/v pairs already split), so nothing here
knows a format's tensor names or a method's scaling rules. This module owns the *key* scheme:
``bert.encoder.layer.3.attention.self.query`` (PEFT, from a task model) and
``encoder.layer.3.attention.self.query`` (AdapterHub) both become ``layer.3.q``: the layer
index, then the short name the model-family plugin gives the projection (q, k, v, o, ffn_in,
ffn_out, qkv), the q/k/v part of a fused projection, or else the module path inside the layer.
Keys that agree are what makes two adapters comparable whatever format or model class they
were saved from.

Low-rank updates keep their factors (ΔW = s·B·A is never formed); every other update is
compared as its parameters flattened into one vector per module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from hubcli import discovery
from hubcli.plugin_api import (
    CapabilityNotSupported,
    HubcliError,
    InsertionPoints,
    LoadedAdapter,
    LowRankUpdate,
    ModuleUpdate,
    ParameterUpdate,
    ScaleUpdate,
)
from registry import Registry


class IncomparableAdapters(HubcliError):
    """Adapters whose weights do not live in the same space (other method, base, shapes)."""

    title = "Cannot compare"


@dataclass
class AdapterWeights:
    """One adapter's comparable weights: ``modules`` maps a module key to LoRA factors or (for
    non-low-rank methods) a flat parameter vector."""

    name: str
    architecture: str
    base_model: str | None
    model_type: str | None
    modules: dict[str, LowRankUpdate | torch.Tensor] = field(default_factory=dict)

    @property
    def low_rank(self) -> bool:
        return any(isinstance(m, LowRankUpdate) for m in self.modules.values())

    def restricted(self, keys: Iterable[str]) -> AdapterWeights:
        """The same adapter with only the modules ``keys``."""
        kept = {key: self.modules[key] for key in keys}
        return AdapterWeights(self.name, self.architecture, self.base_model, self.model_type, kept)


def module_key(path: str, short_names: dict[str, str], part: str | None = None) -> str:
    """``layer.{i}.{name}`` for a module inside layer i (``name``: the q/k/v ``part`` of a fused
    projection, else the module's short name), else the path itself."""
    found = _first_layer(path)
    if found is None:
        return part or path
    index, inner = found
    return f"layer.{index}.{part or short_names.get(inner, inner)}"


def _first_layer(path: str) -> tuple[int, str] | None:
    """(layer index, path inside the layer) from the first numeric component of ``path``."""
    parts = path.split(".")
    for position, part in enumerate(parts):
        if part.isdigit() and position + 1 < len(parts):
            return int(part), ".".join(parts[position + 1 :])
    return None


def short_names_for(model_type: str | None) -> dict[str, str]:
    """Module path inside a layer → short name, from the family plugin's insertion points.

    With the model type unknown (PEFT files do not record it), the names of every installed
    family are used: their module paths differ (``attention.self.value``, ``self_attn.v_proj``
    …), so a path names its matrix unambiguously; a path two families would name differently is
    left as it is."""
    from hubcli.plugin_api.torch_modules import family_for

    if model_type:
        try:
            return _short_names(family_for(model_type).points)
        except HubcliError:
            return {}
    merged: dict[str, str] = {}
    clashing: set[str] = set()
    for family in discovery.manager.load_all("model").values():
        for path, short in _short_names(family.points).items():
            if merged.setdefault(path, short) != short:
                clashing.add(path)
    return {path: short for path, short in merged.items() if path not in clashing}


def _short_names(points: InsertionPoints) -> dict[str, str]:
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
    """Group ``adapter``'s updates per module key; low-rank ones as factors, others as vectors."""
    try:
        updates = discovery.architecture(adapter.architecture).module_updates(adapter)
    except CapabilityNotSupported as exc:
        raise IncomparableAdapters(f"{exc}, so weight distances are not defined for it") from None
    result = AdapterWeights(adapter.name, adapter.architecture, base_model, model_type)
    result.modules = comparable_modules(updates, short_names_for(model_type))
    if not result.modules:
        raise IncomparableAdapters(f"adapter {adapter.name!r} has no weights to compare")
    return result


def comparable_modules(
    updates: Sequence[ModuleUpdate], names: dict[str, str]
) -> dict[str, LowRankUpdate | torch.Tensor]:
    """Module key → factors of a low-rank update, or every parameter of the module's other
    updates concatenated in parameter-name order. An adapter with low-rank updates is compared
    on ΔW alone: biases (PEFT's ``lora_bias``, trained base biases) are left out."""
    low_rank = any(isinstance(update, LowRankUpdate) for update in updates)
    modules: dict[str, LowRankUpdate | torch.Tensor] = {}
    grouped: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for update in updates:
        key = module_key(update.module, names, update.part)
        if isinstance(update, LowRankUpdate):
            modules[key] = update
        elif low_rank:
            continue
        elif isinstance(update, ScaleUpdate):
            grouped[key]["scale"] = update.vector
        elif isinstance(update, ParameterUpdate):
            grouped[key].update(update.tensors)
    for key, params in grouped.items():
        modules[key] = torch.cat([params[p].reshape(-1) for p in sorted(params)])
    return modules

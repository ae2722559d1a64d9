"""Converting an adapter between PEFT and AdapterHub: what every method of ``adapters``' LoRA
family (LoRA, IA³, VeRA …) needs to say the same function in the other library's files.

Both LoRA and IA³ are stored by ``adapters`` at fixed places of every transformer layer (the
attention matrices q, k, v and two feed-forward projections), whereas PEFT may wrap any module.
``AdapterHubPlaces`` names those places for one model family, so a converter can tell whether a
PEFT module has an AdapterHub equivalent, and which config switch turns it on. The envelopes
(``adapterhub_envelope``, ``peft_envelope_from_adapterhub``) carry the base model across; every
refusal is one ``CapabilityNotSupported`` line (``refusal``). Runs on loaded adapters (torch
tensors) when ``ArchitecturePlugin.export`` is called; the files are written with
``hubcli.plugin_api.formats.writing``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.plugin_api import CapabilityNotSupported, LoadedAdapter, ModelFamilyPlugin
from hubcli.plugin_api.formats import adapterhub, peft

if TYPE_CHECKING:
    import torch

ADAPTERHUB_VERSION = "adapters.1.3.0"
"""The ``version`` written into AdapterHub envelopes: the release whose layout the goldens pin.
It must be ≥ 1.1, or ``adapters`` would ignore alpha (scaling 1) when it loads the file."""

ADAPTERHUB_FFN_PLACES = {"llama": ("mlp.down_proj", "mlp.up_proj")}
"""Family → (``intermediate_lora`` module, ``output_lora`` module) where ``adapters`` does not
use the family's single feed-forward input and its output: its Llama mixin swaps them
(tests/golden/README.md) and never adapts ``gate_proj``."""


def refusal(adapter: LoadedAdapter, fmt: str, what: str) -> CapabilityNotSupported:
    """The one-line error for a conversion the target library cannot express exactly."""
    return CapabilityNotSupported(f"{adapter.name}: cannot convert {adapter.format} to {fmt}: {what}")


@dataclass(frozen=True)
class LayerModule:
    """A module path split at the family's layer list: ``<prefix><layers>.<index>.<inner>``."""

    path: str
    layer: int
    inner: str


@dataclass(frozen=True)
class AdapterHubPlaces:
    """Where ``adapters`` puts LoRA-family modules in one model family (paths inside a layer)."""

    model_type: str
    family: ModelFamilyPlugin
    attention: dict[str, str]
    """"q" / "k" / "v" → module; empty for a fused projection (GPT-2)."""
    fused_qkv: str | None
    intermediate: str | None
    output: str | None

    @classmethod
    def of(cls, model_type: str) -> AdapterHubPlaces:
        from hubcli.plugin_api.torch_modules import family_for

        family = family_for(model_type)
        points = family.points
        attention = {m: p for m, p in (("q", points.q), ("k", points.k), ("v", points.v)) if p}
        default_ffn = (points.ffn_in[0], points.ffn_out) if len(points.ffn_in) == 1 else (None, None)
        intermediate, output = ADAPTERHUB_FFN_PLACES.get(family.name, default_ffn)
        return cls(model_type, family, attention, points.qkv, intermediate, output)

    def split(self, path: str) -> LayerModule | None:
        """``path`` as layer index and in-layer path; None outside the layer list."""
        layers = re.escape(self.family.points.layers)
        found = re.match(rf"^(?:.+\.)?{layers}\.(\d+)\.(.+)$", path)
        return LayerModule(path, int(found.group(1)), found.group(2)) if found else None

    def switch(self, inner: str) -> str | None:
        """The AdapterHub config switch that adapts the in-layer module ``inner``: "q", "k",
        "v", "qkv", "intermediate" or "output"; None when ``adapters`` never adapts it."""
        for matrix, place in self.attention.items():
            if inner == place:
                return matrix
        if inner == self.fused_qkv:
            return "qkv"
        if inner == self.intermediate:
            return "intermediate"
        if inner == self.output:
            return "output"
        return None

    def hidden_size(self, inner: str, in_features: int | None, out_features: int) -> int | None:
        """The model width read off one adapted module (for the envelope's ``hidden_size``): the
        input of an attention or feed-forward input projection, the output of the feed-forward
        output projection, a third of a fused q|k|v output; None when the module cannot tell
        (k/v outputs are narrower with grouped KV heads, feed-forward outputs wider)."""
        points = self.family.points
        reads_hidden = [*self.attention.values(), self.fused_qkv, *points.ffn_in]
        if in_features is not None and inner in reads_hidden:
            return in_features
        if inner == points.ffn_out:
            return out_features
        if inner == self.fused_qkv:
            return out_features // 3
        return None

    def ambiguous_suffix(self, inner: str) -> bool:
        """Whether PEFT's suffix rule would also match another projection of the family with
        ``inner`` as a target name (BERT's ``output.dense`` ends ``attention.output.dense``)."""
        points = self.family.points
        others = [points.q, points.k, points.v, points.o, points.qkv, points.ffn_out, *points.ffn_in]
        return any(other and other != inner and other.endswith("." + inner) for other in others)


def uniform_layers(
    adapter: LoadedAdapter, fmt: str, modules: dict[str, LayerModule]
) -> tuple[set[str], list[int]]:
    """The in-layer modules every adapted layer has, and the layers between 0 and the last
    adapted one that have none (AdapterHub's ``leave_out``). AdapterHub applies one set of
    places to every layer it does not leave out, so any other pattern is refused."""
    per_layer: dict[int, set[str]] = {}
    for found in modules.values():
        per_layer.setdefault(found.layer, set()).add(found.inner)
    shapes = {frozenset(inner) for inner in per_layer.values()}
    if len(shapes) > 1:
        differing = sorted(per_layer.items())
        raise refusal(
            adapter,
            fmt,
            "layers adapt different modules "
            f"({'; '.join(f'layer {i}: {sorted(s)}' for i, s in differing[:2])}); "
            "AdapterHub adapts the same places in every layer",
        )
    leave_out = [i for i in range(max(per_layer) + 1) if i not in per_layer]
    return set(next(iter(shapes))), leave_out


def places_text(places: AdapterHubPlaces) -> str:
    """The in-layer modules ``adapters`` can adapt in this family, for refusals."""
    named = [*places.attention.values(), places.fused_qkv, places.intermediate, places.output]
    return ", ".join(p for p in named if p)


def adapterhub_places_of(
    adapter: LoadedAdapter, fmt: str, model_type: str | None, paths: list[str]
) -> tuple[AdapterHubPlaces, dict[str, LayerModule], dict[str, str]]:
    """For a PEFT adapter's wrapped module ``paths``: the family's AdapterHub places, each path
    split at its layer, and each in-layer module's switch; refused where ``adapters`` has none.
    The model type is the file's (``auto_mapping``), else the caller's ``model_type``."""
    model_type = peft_envelope(adapter).guessed_model_type() or model_type
    if model_type is None:
        raise refusal(
            adapter,
            fmt,
            "the PEFT config names no model type (PEFT writes auto_mapping only "
            "for bare backbones); the AdapterHub envelope and its module places depend on it "
            "(give it with --model-type)",
        )
    places = AdapterHubPlaces.of(model_type)
    modules: dict[str, LayerModule] = {}
    switches: dict[str, str] = {}
    for path in paths:
        found = places.split(path)
        switch = places.switch(found.inner) if found else None
        if found is None or switch is None:
            raise refusal(
                adapter, fmt, f"module {path!r}: AdapterHub adapts only {places_text(places)} of every layer"
            )
        modules[path], switches[found.inner] = found, switch
    return places, modules, switches


def peft_envelope(adapter: LoadedAdapter) -> peft.PeftEnvelope:
    keys = ("task_type", "base_model_name_or_path", "model_type", "auto_mapping")
    return peft.PeftEnvelope.model_validate({key: adapter.raw_config.get(key) for key in keys})


def adapterhub_envelope(
    adapter: LoadedAdapter, method: dict[str, Any], *, name: str, hidden_size: int | None, model_type: str
) -> dict[str, Any]:
    """``adapter_config.json`` of ``adapters``: the method config and the keys around it."""
    source = peft_envelope(adapter)
    return {
        "config": method,
        "hidden_size": hidden_size,
        "model_class": (source.auto_mapping or {}).get("base_model_class"),
        "model_name": source.base_model_name_or_path,
        "model_type": model_type,
        "name": name,
        "version": ADAPTERHUB_VERSION,
    }


def lora_family_method(
    switches: set[str],
    leave_out: list[int],
    *,
    r: int,
    alpha: float,
    composition_mode: str,
    dropout: float,
    init_weights: str,
) -> dict[str, Any]:
    """``config`` of ``adapters``' LoRAConfig, every key as the library writes it, for modules
    at the places ``switches`` names (``AdapterHubPlaces.switch``: a fused ``qkv`` enables all
    three matrices). ``composition_mode`` is ``"add"`` for LoRA, ``"scale"`` for IA³."""
    attn = [m for m in adapterhub.QKV_ORDER if m in switches or "qkv" in switches]
    return {
        "architecture": "lora",
        "r": r,
        "alpha": alpha,
        "attn_matrices": attn,
        "selfattn_lora": bool(attn),
        "intermediate_lora": "intermediate" in switches,
        "output_lora": "output" in switches,
        "leave_out": leave_out,
        "composition_mode": composition_mode,
        "dropout": dropout,
        "init_weights": init_weights,
        "init_weights_seed": None,
        "dtype": None,
        "use_gating": False,
        "use_dora": False,
        "vera_b": None,
        "vera_d": None,
    }


def peft_envelope_from_adapterhub(envelope: adapterhub.Envelope) -> dict[str, Any]:
    """The PEFT keys around a method config: base model, and ``auto_mapping`` as PEFT writes it
    for a bare transformers backbone (hubcli's PEFT reader takes the model type from it)."""
    module = envelope.model_type.replace("-", "_") if envelope.model_type else None
    model_class = (envelope.model_class or "").replace("AdapterModel", "Model") or None
    return {
        "task_type": None,
        "base_model_name_or_path": envelope.model_name,
        "auto_mapping": {
            "base_model_class": model_class,
            "parent_library": f"transformers.models.{module}.modeling_{module}",
        }
        if module
        else None,
        "inference_mode": True,
    }


def peft_targets(
    places: AdapterHubPlaces, modules: dict[str, LayerModule], leave_out: list[int], *, layer_option: bool
) -> dict[str, Any]:
    """``target_modules`` naming the adapted projections as PEFT users write them (in-layer
    paths), except where PEFT's suffix rule would also catch another projection: those are
    listed by full path. Left-out layers become ``layers_to_transform`` where the PEFT method
    has that option (``layer_option``; IA³ has not: then every module is listed by full path)."""
    if leave_out and not layer_option:
        return {"target_modules": sorted(modules)}
    names = {path if places.ambiguous_suffix(m.inner) else m.inner for path, m in modules.items()}
    layers = sorted({m.layer for m in modules.values()}) if leave_out else None
    return {
        "target_modules": sorted(names),
        "layers_to_transform": layers,
        "layers_pattern": places.family.points.layers.rsplit(".", 1)[-1] if layers else None,
    }


def adapterhub_modules(
    adapter: LoadedAdapter, fmt: str, params: tuple[str, ...]
) -> tuple[AdapterHubPlaces, dict[str, dict[str, torch.Tensor]], dict[str, LayerModule]]:
    """An AdapterHub LoRA-family adapter's tensors grouped by module (``….loras.<name>.<param>``),
    with the family's places; anything but ``params`` is refused."""
    envelope = adapterhub.Envelope.model_validate(adapter.raw_config)
    if envelope.model_type is None:
        raise refusal(adapter, fmt, "the AdapterHub config names no model_type")
    places = AdapterHubPlaces.of(envelope.model_type)
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    modules: dict[str, LayerModule] = {}
    for key, tensor in adapter.tensors.items():
        found = adapterhub.LORA_KEY.match(key)
        if found is None or found["param"] not in params:
            raise refusal(adapter, fmt, f"tensor {key!r} has no {fmt} equivalent")
        module = places.split(found["module"])
        if module is None:
            raise refusal(adapter, fmt, f"module {found['module']!r} is outside the transformer layers")
        modules[found["module"]] = module
        grouped.setdefault(found["module"], {})[found["param"]] = tensor
    return places, grouped, modules

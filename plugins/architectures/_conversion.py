"""What the built-in plugins share when they write an adapter in the other library's format.

Both LoRA and IA³ are stored by ``adapters`` at fixed places of every transformer layer (the
attention matrices q, k, v and two feed-forward projections), whereas PEFT may wrap any module.
``AdapterHubPlaces`` names those places for one model family, so a converter can tell whether a
PEFT module has an AdapterHub equivalent, and which config switch turns it on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hubcli.errors import CapabilityNotSupported
from hubcli.plugin_api import LoadedAdapter, ModelFamilyPlugin
from plugins.architectures._common import CONFIG_FILE

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


def write_config(folder: Path, data: dict[str, Any]) -> None:
    """``adapter_config.json`` as both libraries write it (indented, keys sorted)."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    (folder / CONFIG_FILE).write_text(text, encoding="utf-8")


def write_weights(folder: Path, filename: str, tensors: dict[str, torch.Tensor]) -> None:
    """Weights as safetensors with the ``format: pt`` metadata transformers and PEFT expect."""
    from safetensors.torch import save_file

    save_file({key: t.detach().contiguous() for key, t in tensors.items()}, str(folder / filename),
              metadata={"format": "pt"})


@dataclass(frozen=True)
class LayerModule:
    """A module path split at the family's layer list: ``<prefix><layers>.<index>.<inner>``."""

    path: str
    layer: int
    inner: str


@dataclass(frozen=True)
class AdapterHubPlaces:
    """Where ``adapters`` puts LoRA-family modules in one model family (paths inside a layer)."""

    family: ModelFamilyPlugin
    attention: dict[str, str]
    """"q" / "k" / "v" → module; empty for a fused projection (GPT-2)."""
    fused_qkv: str | None
    intermediate: str | None
    output: str | None

    @classmethod
    def of(cls, model_type: str) -> AdapterHubPlaces:
        from hubcli.engine.families import family_for

        family = family_for(model_type)
        points = family.points
        attention = {m: p for m, p in (("q", points.q), ("k", points.k), ("v", points.v)) if p}
        default_ffn = (points.ffn_in[0], points.ffn_out) if len(points.ffn_in) == 1 else (None, None)
        intermediate, output = ADAPTERHUB_FFN_PLACES.get(family.name, default_ffn)
        return cls(family, attention, points.qkv, intermediate, output)

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

    def ambiguous_suffix(self, inner: str) -> bool:
        """Whether PEFT's suffix rule would also match another projection of the family with
        ``inner`` as a target name (BERT's ``output.dense`` ends ``attention.output.dense``)."""
        points = self.family.points
        others = [points.q, points.k, points.v, points.o, points.qkv, points.ffn_out, *points.ffn_in]
        return any(other and other != inner and other.endswith("." + inner) for other in others)


def uniform_layers(adapter: LoadedAdapter, fmt: str, modules: dict[str, LayerModule]) -> tuple[set[str], list[int]]:
    """The in-layer modules every adapted layer has, and the layers between 0 and the last
    adapted one that have none (AdapterHub's ``leave_out``). AdapterHub applies one set of
    places to every layer it does not leave out, so any other pattern is refused."""
    per_layer: dict[int, set[str]] = {}
    for found in modules.values():
        per_layer.setdefault(found.layer, set()).add(found.inner)
    shapes = {frozenset(inner) for inner in per_layer.values()}
    if len(shapes) > 1:
        differing = sorted(per_layer.items())
        raise refusal(adapter, fmt, "layers adapt different modules "
                      f"({'; '.join(f'layer {i}: {sorted(s)}' for i, s in differing[:2])}); "
                      "AdapterHub adapts the same places in every layer")
    leave_out = [i for i in range(max(per_layer) + 1) if i not in per_layer]
    return set(next(iter(shapes))), leave_out

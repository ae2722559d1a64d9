"""AdapterHub IA³ tensors in the form the engine's ``IA3Scale`` takes: one output-scaling
vector per real projection.

``adapters`` runs IA³ as a LoRA with ``composition_mode: "scale"``: only ``lora_B`` [out, 1] is
saved, and the projection's output (bias included) is multiplied by ``lora_B · alpha``. On a
fused QKV projection (GPT-2's ``c_attn``) the saved vector covers only the enabled thirds, in
q, k, v order; the others keep a factor of one, so the vector is spread over all three.
"""

from __future__ import annotations

import torch

from hubcli.plugin_api import AttachTarget, CapabilityNotSupported, LoadedAdapter
from hubcli.plugin_api.formats.adapterhub import AdapterHubTargets, fused_thirds, lora_family_tensors


def output_scales(
    target: AttachTarget, adapter: LoadedAdapter, targets: AdapterHubTargets, scale: float
) -> dict[str, torch.Tensor]:
    """Module path → the vector its output is multiplied by."""
    scales: dict[str, torch.Tensor] = {}
    for path, params in lora_family_tensors(adapter).items():
        if set(params) != {"lora_B"}:
            raise CapabilityNotSupported(
                f"adapter {adapter.name!r}: AdapterHub IA³ parameters {sorted(params)} at {path!r} "
                "(only lora_B vectors can run)"
            )
        vector = params["lora_B"].flatten() * scale
        thirds = fused_thirds(target, path, targets)
        scales[path] = spread_over_thirds(vector, thirds) if thirds else vector
    return scales


def spread_over_thirds(vector: torch.Tensor, thirds: list[int]) -> torch.Tensor:
    """A fused projection's vector over the enabled ``thirds`` only, as one factor per output
    of all three (factor one where ``adapters`` leaves the output alone)."""
    width = vector.numel() // len(thirds)
    spread = vector.new_ones(3 * width)
    for group, third in enumerate(thirds):
        spread[third * width : (third + 1) * width] = vector[group * width : (group + 1) * width]
    return spread

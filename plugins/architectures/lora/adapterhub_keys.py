"""AdapterHub LoRA tensors in the form the engine's ``LoraDelta`` takes: one (A, B) pair per
real projection, A [r, in] and B [out, r].

``adapters`` names them ``<module path>.loras.<adapter name>.lora_A`` / ``lora_B``, where the
module path is the projection itself (Llama's swapped intermediate/output locations are already
resolved in the key). The one reshaping needed is a fused QKV projection (GPT-2's ``c_attn``,
output [q | k | v]): ``adapters`` saves one stacked pair for the n enabled matrices, A [n·r, in]
and B [n·out, r], block g adding to the g-th enabled third. Placing block g of B into the rows of
its third and the columns of its A rows gives one [3·out, n·r] B whose product with A is exactly
that block structure (the other entries are zeros).
"""

from __future__ import annotations

import torch

from hubcli.plugin_api import AttachTarget, CapabilityNotSupported, LoadedAdapter
from hubcli.plugin_api.formats.adapterhub import AdapterHubTargets, fused_thirds, lora_family_tensors


def _spread_fused_b(lora_b: torch.Tensor, thirds: list[int], rank: int) -> torch.Tensor:
    """The stacked [n·out, r] B as one [3·out, n·r] B (see the module docstring)."""
    width = lora_b.shape[0] // len(thirds)
    spread = lora_b.new_zeros(3 * width, len(thirds) * rank)
    for group, third in enumerate(thirds):
        block = lora_b[group * width : (group + 1) * width]
        spread[third * width : (third + 1) * width, group * rank : (group + 1) * rank] = block
    return spread


def lora_pairs(
    target: AttachTarget, adapter: LoadedAdapter, targets: AdapterHubTargets, rank: int
) -> dict[str, dict[str, torch.Tensor]]:
    """Module path → {"A": …, "B": …}, ready for ``LoraDelta``."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for path, params in lora_family_tensors(adapter).items():
        unknown = set(params) - {"lora_A", "lora_B"}
        if unknown:
            raise CapabilityNotSupported(
                f"adapter {adapter.name!r}: AdapterHub LoRA parameters {sorted(unknown)} at {path!r} "
                "(gating, DoRA) cannot run yet"
            )
        lora_a, lora_b = params["lora_A"], params["lora_B"]
        thirds = fused_thirds(target, path, targets)
        if thirds:
            lora_b = _spread_fused_b(lora_b, thirds, rank)
        pairs[path] = {"A": lora_a, "B": lora_b}
    return pairs

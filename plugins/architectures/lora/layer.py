"""LoRA on the model side: one ``LoraDelta`` per wrapped projection, PEFT semantics.

The modules to wrap come from the saved tensors (``base_model.model.<path>.lora_A.weight``),
not from re-matching ``target_modules``: what PEFT saved is exactly what it wrapped, whatever
form the config used (list, regex, ``all-linear``). Per-module rank and alpha come from the
canonical config (``rank_pattern`` / ``alpha_pattern``), the scaling rule from it too
(alpha/r, rsLoRA alpha/√r).

Forward: y = base(x) + s·B(A(x)). DoRA (PEFT ``use_dora``): with m the saved magnitude and
n = ‖W + s·B·A‖ per output row, y = base(x) + (m/n − 1)·(base(x) − bias) + (m/n)·s·B(A(x)).
GPT-2's Conv1D stores W as [in, out] (``fan_in_fan_out``); A and B keep PEFT's orientation, only
merging transposes ΔW.
"""

from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn.functional as F
from torch import nn

from hubcli.plugin_api import (
    AttachTarget,
    CapabilityNotSupported,
    LoadedAdapter,
    LowRankUpdate,
    ModelMismatchError,
)
from hubcli.plugin_api.formats import peft
from hubcli.plugin_api.torch_modules import LeafAdapter, attach_saved_modules
from plugins.architectures.lora import adapterhub_keys
from plugins.architectures.lora.config import LoraConfig
from plugins.architectures.lora.formats import PEFT_PARTS


def weight_out_in(base: nn.Module) -> torch.Tensor:
    """The base weight as [out, in], whatever the layer stores (Conv1D stores [in, out])."""
    return base.weight.T if type(base).__name__ == "Conv1D" else base.weight


class LoraDelta(LeafAdapter):
    """ΔW = s·B·A at one projection (plus DoRA's magnitude and PEFT's optional B bias)."""

    def __init__(
        self,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        scaling: float,
        magnitude: torch.Tensor | None = None,
        b_bias: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.lora_A = nn.Parameter(lora_a, requires_grad=False)
        self.lora_B = nn.Parameter(lora_b, requires_grad=False)
        self.scaling = scaling
        self.magnitude = None if magnitude is None else nn.Parameter(magnitude, requires_grad=False)
        self.b_bias = None if b_bias is None else nn.Parameter(b_bias, requires_grad=False)
        self._original_weight: torch.Tensor | None = None

    def delta_weight(self) -> torch.Tensor:
        """s·B·A as [out, in]."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def low_rank_factors(self) -> LowRankUpdate | None:
        """Plain LoRA only: DoRA's magnitude and a bias on B are not a low-rank product."""
        if self.magnitude is not None or self.b_bias is not None:
            return None
        return LowRankUpdate(A=self.lora_A, B=self.lora_B, scaling=self.scaling)

    def _magnitude_scale(self, base: nn.Module) -> torch.Tensor:
        """DoRA's m / ‖W + s·B·A‖ per output row (PEFT treats the norm as a constant)."""
        norm = torch.linalg.norm(weight_out_in(base) + self.delta_weight(), dim=1)
        return self.magnitude / norm

    def adapt_output(self, x: torch.Tensor, y: torch.Tensor, base: nn.Module) -> torch.Tensor:
        if self.magnitude is None and self.b_bias is None:
            # y + s·(A x)·Bᵀ as one GEMM with its add and scaling fused (addmm): no separate
            # passes over the [tokens, out] output for the multiply and the add.
            low = F.linear(x, self.lora_A).reshape(-1, self.lora_A.shape[0])
            out = torch.addmm(y.reshape(-1, y.shape[-1]), low, self.lora_B.T, alpha=self.scaling)
            return out.view(y.shape)
        lora = F.linear(F.linear(x, self.lora_A), self.lora_B, self.b_bias)
        if self.magnitude is None:
            return y + self.scaling * lora
        scale = self._magnitude_scale(base)
        without_bias = y if base.bias is None else y - base.bias
        return y + (scale - 1) * without_bias + scale * lora * self.scaling

    def merge(self, base: nn.Module) -> None:
        weight = base.weight.data
        self._original_weight = weight.clone()
        merged = weight_out_in(base).to(torch.float32) + self.delta_weight().to(torch.float32)
        if self.magnitude is not None:
            merged = merged * self._magnitude_scale(base).to(torch.float32).unsqueeze(1)
        if type(base).__name__ == "Conv1D":
            merged = merged.T
        weight.copy_(merged.to(weight.dtype))

    def unmerge(self, base: nn.Module) -> None:
        """Put back the copy taken by ``merge``: bit-exact, unlike subtracting ΔW again."""
        base.weight.data.copy_(self._original_weight)
        self._original_weight = None


def _group_peft_tensors(adapter: LoadedAdapter) -> dict[str, dict[str, torch.Tensor]]:
    """Module path → {part: tensor} (parts as in ``formats.PEFT_PARTS``)."""
    modules: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for key, tensor in adapter.tensors.items():
        for suffix, part in PEFT_PARTS.items():
            module = peft.module_of(key, suffix)
            if module is not None:
                modules[module][part] = tensor
                break
    return modules


def attach(target: AttachTarget, adapter: LoadedAdapter) -> None:
    """Wrap every projection the adapter has weights for and add its ``LoraDelta``."""
    config = LoraConfig.model_validate(adapter.config)
    if config.bias != "none":
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: LoRA trained with base-layer biases (bias={config.bias!r}) "
            "cannot be attached yet"
        )
    if adapter.format == peft.FORMAT:
        modules = _group_peft_tensors(adapter)
    else:
        modules = adapterhub_keys.lora_pairs(target, adapter, config.targets, config.r)
    for path, parts in modules.items():
        slot = target.slot(path)
        base = slot.base
        weight = weight_out_in(base)
        lora_a, lora_b = parts["A"], parts["B"]
        if lora_a.shape[1] != weight.shape[1] or lora_b.shape[0] != weight.shape[0]:
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: LoRA for {path!r} is {lora_b.shape[0]}×{lora_a.shape[1]} "
                f"(out×in) but the model's projection is {weight.shape[0]}×{weight.shape[1]}"
            )
        like = {"device": weight.device, "dtype": weight.dtype}
        optional = {
            part: parts[part].to(**like) if part in parts else None for part in ("magnitude", "B_bias")
        }
        delta = LoraDelta(
            lora_a.to(**like),
            lora_b.to(**like),
            config.scaling_for(path),
            magnitude=optional["magnitude"],
            b_bias=optional["B_bias"],
        )
        slot.adapters[adapter.name] = delta
    attach_saved_modules(target, adapter.name, adapter.tensors, config.modules_to_save)


def merge(target: AttachTarget, name: str) -> None:
    slots = target.slots_of(name)
    if any(slot.adapters[name].b_bias is not None for slot in slots):  # refuse before touching any
        raise CapabilityNotSupported(
            f"adapter {name!r}: a LoRA with a bias on B (lora_bias) cannot be merged exactly"
        )
    for slot in slots:
        slot.merge(name)


def unmerge(target: AttachTarget, name: str) -> None:
    for slot in reversed(target.slots_of(name)):
        slot.unmerge(name)

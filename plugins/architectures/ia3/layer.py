"""IA³ on the model side, PEFT semantics: learned vectors that rescale activations.

PEFT saves one ``base_model.model.<path>.ia3_l`` per wrapped projection. On a "feedforward"
module (``feedforward_modules``, e.g. BERT's ``output.dense``; PEFT's matching rule is
``IA3Config.is_feedforward``) the vector scales the projection's input ([1, in]); elsewhere
(keys, values) it scales the output ([out, 1]).

Merging is exact in both cases: output scaling is diag(l)·W (and l·b), input scaling W·diag(l).
"""

from __future__ import annotations

import torch
from torch import nn

from hubcli.plugin_api import AttachTarget, LoadedAdapter, ModelMismatchError
from hubcli.plugin_api.formats import peft
from hubcli.plugin_api.torch_modules import LeafAdapter, attach_saved_modules
from plugins.architectures.ia3 import adapterhub_keys
from plugins.architectures.ia3.config import IA3Config

SUFFIX = "ia3_l"


def is_conv1d(base: nn.Module) -> bool:
    return type(base).__name__ == "Conv1D"


class IA3Scale(LeafAdapter):
    """A vector ``scale`` applied to a projection's input (feedforward) or output."""

    def __init__(self, scale: torch.Tensor, feedforward: bool) -> None:
        super().__init__()
        self.scale = nn.Parameter(scale, requires_grad=False)
        self.feedforward = feedforward
        self._original: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def adapt_input(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale if self.feedforward else x

    def adapt_output(self, x: torch.Tensor, y: torch.Tensor, base: nn.Module) -> torch.Tensor:
        return y if self.feedforward else y * self.scale

    def merge(self, base: nn.Module) -> None:
        weight = base.weight.data
        bias = None if base.bias is None else base.bias.data
        self._original = (weight.clone(), None if bias is None else bias.clone())
        # Linear stores [out, in], Conv1D [in, out]: pick the axis that carries in or out.
        scales_rows = self.feedforward == is_conv1d(base)
        weight.mul_(self.scale.unsqueeze(1) if scales_rows else self.scale.unsqueeze(0))
        if bias is not None and not self.feedforward:
            bias.mul_(self.scale)

    def unmerge(self, base: nn.Module) -> None:
        """Put back the copies taken by ``merge`` (bit-exact, unlike dividing by l)."""
        weight, bias = self._original
        base.weight.data.copy_(weight)
        if bias is not None:
            base.bias.data.copy_(bias)
        self._original = None


def attach(target: AttachTarget, adapter: LoadedAdapter) -> None:
    config = IA3Config.model_validate(adapter.config)
    if adapter.format == peft.FORMAT:
        paths = {key: peft.module_of(key, SUFFIX) for key in adapter.tensors}
        vectors = {path: adapter.tensors[key] for key, path in paths.items() if path is not None}
    else:
        vectors = adapterhub_keys.output_scales(target, adapter, config.targets, config.scale)
    for path, tensor in vectors.items():
        slot = target.slot(path)
        base = slot.base
        feedforward = config.is_feedforward(path)
        out_features, in_features = base.weight.shape[::-1] if is_conv1d(base) else base.weight.shape
        expected = in_features if feedforward else out_features
        if tensor.numel() != expected:
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: IA³ vector for {path!r} has {tensor.numel()} entries but "
                f"{path!r} has {expected} {'inputs' if feedforward else 'outputs'}"
            )
        scale = tensor.flatten().to(device=base.weight.device, dtype=base.weight.dtype)
        slot.adapters[adapter.name] = IA3Scale(scale, feedforward)
    if not vectors:
        raise ModelMismatchError(f"adapter {adapter.name!r}: no IA³ vectors (…{SUFFIX}) in its weights")
    attach_saved_modules(target, adapter.name, adapter.tensors, config.modules_to_save)


def merge(target: AttachTarget, name: str) -> None:
    for slot in target.slots_of(name):
        slot.merge(name)


def unmerge(target: AttachTarget, name: str) -> None:
    for slot in reversed(target.slots_of(name)):
        slot.unmerge(name)

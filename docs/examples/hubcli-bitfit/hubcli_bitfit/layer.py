"""BitFit on the model side: a bias delta on a projection, through the engine's slots.

The engine wraps the projection in an ``AdapterSlot`` (``AttachTarget.slot``) and calls each
active ``LeafAdapter``'s ``adapt_output`` after the original projection, so the delta is
simply added: y = W x + b + δ. Merging writes b + δ into the projection and keeps the original
b, so unmerging is a copy (bit-exact) rather than a subtraction (which would round).
"""

from __future__ import annotations

from collections import defaultdict

import torch
from hubcli.plugin_api import AttachTarget, HubcliError, LoadedAdapter, ModelMismatchError
from hubcli.plugin_api.torch_modules import LeafAdapter
from torch import nn

from hubcli_bitfit.config import BitFitConfig, module_of


def is_projection(module: nn.Module) -> bool:
    """``nn.Linear`` or transformers' ``Conv1D`` (GPT-2); both keep their bias as [out]."""
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


class BiasDelta(LeafAdapter):
    """δ added to a projection's output; ``delta`` is a Parameter so a trainer can tune it."""

    def __init__(self, delta: torch.Tensor) -> None:
        super().__init__()
        self.delta = nn.Parameter(delta, requires_grad=False)
        self._original_bias: torch.Tensor | None = None

    def adapt_output(self, x: torch.Tensor, y: torch.Tensor, base: nn.Module) -> torch.Tensor:
        return y + self.delta

    def merge(self, base: nn.Module) -> None:
        if self._original_bias is not None:
            raise HubcliError("this BitFit delta is already merged")
        self._original_bias = base.bias.data.clone()
        base.bias.data.add_(self.delta.data)

    def unmerge(self, base: nn.Module) -> None:
        if self._original_bias is None:
            raise HubcliError("this BitFit delta is not merged")
        base.bias.data.copy_(self._original_bias)
        self._original_bias = None


def attach(target: AttachTarget, adapter: LoadedAdapter) -> None:
    """One ``BiasDelta`` per saved vector; every module must be a projection with a bias of the
    delta's size (checked before anything is put into the model). Modules saved whole (the
    task head) become the adapter's own copy of that module (``AttachTarget.add_head``)."""
    config = BitFitConfig.model_validate(adapter.config)
    checked: dict[str, torch.Tensor] = {}
    heads: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for name, tensor in sorted(adapter.tensors.items()):
        saved = config.saved_module_of(name)
        if saved is not None:
            heads[saved[0]][saved[1]] = tensor
            continue
        path = module_of(name)
        if path is None:
            raise ModelMismatchError(f"adapter {adapter.name!r}: tensor {name!r} is not a bias delta")
        module = target.module(path)
        if not is_projection(module):
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: {path!r} is a {type(module).__name__}, not a Linear or Conv1D projection"
            )
        if module.bias is None:
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: {path!r} has no bias in this {target.model.config.model_type} model "
                "(BitFit needs one)"
            )
        if tuple(tensor.shape) != tuple(module.bias.shape):
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: tensor {name!r} has shape {list(tensor.shape)} but {path!r} has a "
                f"bias of shape {list(module.bias.shape)}"
            )
        checked[path] = tensor.to(device=module.bias.device, dtype=module.bias.dtype)
    if not checked:
        raise ModelMismatchError(f"adapter {adapter.name!r}: no bias deltas in its weights")
    for path, delta in checked.items():
        target.slot(path).adapters[adapter.name] = BiasDelta(delta)
    for path, state in heads.items():
        target.add_head(adapter.name, path, state)

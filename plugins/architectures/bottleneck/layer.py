"""Bottleneck adapters on the model side, with the exact maths of ``adapters`` 1.3.0.

One ``Bottleneck`` module per sub-block (after attention: ``mh_adapter``; after the
feed-forward block: ``output_adapter``), put into the engine's block slots
(``hubcli.engine.blocks``). With h the sub-block output, x its residual input, LN the model's
own norm there (identity in pre-LN families) and f(z) = up(act(down(z))) · scaling:

- sequential (``seq_bn``, ``double_seq_bn``): z = LN(h + x) if ``original_ln_before`` else h;
  the adapter residual r is h (``residual_before_ln`` true), h + x (``"post_add"``) or z
  (false); o = LN_after(f(z) + r) or LN_after(f(z)) + r (``adapter_residual_before_ln``);
  the block returns LN(o + x) if ``original_ln_after`` else o.
- parallel (``par_bn``): f reads the sub-block input x; o = LN_after(f(x)) + h; the block
  returns LN(o + x) if ``original_ln_after`` else o.

``ln_before`` puts a fresh LayerNorm in front of the down projection, ``use_gating`` multiplies
f by a sigmoid gate averaged over the sequence. Parameter names are those ``adapters`` saves, so
the saved tensors load with ``load_state_dict``.
"""

from __future__ import annotations

import re
from collections import defaultdict

import torch
from torch import nn

from hubcli.plugin_api import AttachTarget, LoadedAdapter, ModelMismatchError
from hubcli.plugin_api.formats.reading import layer_index
from hubcli.plugin_api.torch_modules import BlockAdapter, BlockOutput, SubBlock, activation
from plugins.architectures.bottleneck.config import BottleneckConfig
from plugins.architectures.bottleneck.formats import KEY

POSITION_OF_LOCATION = {
    "attention.output": "attention",  # BERT, RoBERTa
    "attention_adapters": "attention",  # GPT-2, Llama, DistilBERT
    "output": "ffn",
    "output_adapters": "ffn",
}
"""Where ``adapters`` keeps a layer's bottleneck modules (the part of the key after the layer
index) → the engine's sub-block position."""
_AFTER_LAYER = re.compile(r"\.\d+\.(?P<rest>.+)$")


class Bottleneck(BlockAdapter):
    """One bottleneck adapter at one sub-block."""

    def __init__(self, config: BottleneckConfig, hidden: int, down: int) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        if config.ln_before:
            self.adapter_norm_before = nn.LayerNorm(hidden)
            layers.append(self.adapter_norm_before)
        layers += [nn.Linear(hidden, down), activation(config.non_linearity)]
        self.adapter_down = nn.Sequential(*layers)
        self.adapter_up = nn.Linear(down, hidden)
        if config.scaling in ("learned", "channel"):
            self.scaling = nn.Parameter(torch.ones(1 if config.scaling == "learned" else hidden))
        else:
            self.scaling = config.scaling
        if config.ln_after:
            self.adapter_norm_after = nn.LayerNorm(hidden)
        if config.use_gating:
            self.gate = nn.Linear(hidden, 1)

    def bottleneck(self, z: torch.Tensor) -> torch.Tensor:
        """f(z), gated when the config says so."""
        out = self.adapter_up(self.adapter_down(z)) * self.scaling
        if self.config.use_gating:
            out = out * torch.sigmoid(self.gate(z)).mean(dim=1).unsqueeze(-1)
        return out

    def transform(self, hidden: torch.Tensor, block: SubBlock) -> torch.Tensor:
        config = self.config
        if config.is_parallel:
            out = self.bottleneck(block.x)
            return (self.adapter_norm_after(out) if config.ln_after else out) + hidden
        summed = hidden + block.x
        z = block.normed(summed) if config.original_ln_before else hidden
        if config.residual_before_ln == "post_add":
            residual = summed if config.original_ln_before else hidden
        else:
            residual = hidden if config.residual_before_ln else z
        out = self.bottleneck(z)
        if config.adapter_residual_before_ln:
            out = out + residual
        if config.ln_after:
            out = self.adapter_norm_after(out)
        return out if config.adapter_residual_before_ln else out + residual

    def finish(self, hidden: torch.Tensor, block: SubBlock) -> BlockOutput:
        return BlockOutput(hidden, closed=not self.config.original_ln_after)


def _position(location: str) -> tuple[int, str] | None:
    """(layer index, sub-block position) of an ``adapters`` bottleneck location."""
    index, after = layer_index(location), _AFTER_LAYER.search(location)
    position = POSITION_OF_LOCATION.get(after["rest"]) if after else None
    return None if index is None or position is None else (index, position)


def attach(target: AttachTarget, adapter: LoadedAdapter) -> None:
    """Build one ``Bottleneck`` per saved location and put it into that sub-block's slot."""
    config = BottleneckConfig.model_validate(adapter.config)
    modules: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for key, tensor in adapter.tensors.items():
        found = KEY.match(key)
        if found is None:
            raise ModelMismatchError(f"adapter {adapter.name!r}: {key!r} is not a bottleneck weight")
        modules[found["location"]][found["param"]] = tensor
    layers = len(target.layer_paths())
    hidden = target.dims.hidden_size
    like = target.module(target.family.points.word_embeddings).weight
    for location, state in modules.items():
        where = _position(location)
        if where is None or where[0] >= layers:
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: bottleneck at {location!r} has no place in this "
                f"{target.family.name} model ({layers} layers)"
            )
        down = config.bottleneck_size(hidden, where[0])
        module = Bottleneck(config, hidden, down)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: bottleneck at {location!r} does not fit hidden size "
                f"{hidden}: {str(exc).splitlines()[-1].strip()}"
            ) from None
        module.to(device=like.device, dtype=like.dtype).requires_grad_(False)
        target.block(*where).adapters[adapter.name] = module

"""AdapterHub prefix tuning: its tensors in the form the engine's ``PrefixKeyValues`` takes
(PEFT's ``prompt_embeddings`` table [prefix length, layers · 2 · kv heads · head size]), and
the one way it runs differently from PEFT: the real tokens keep positions 0…T−1.

``adapters`` saves the same tensors once per layer and once in a shared pool
(``prefix_tuning.prefix_tunings.<name>.self_prefix.…``): we read one copy. Two forms:

- flat (``flat: true``, or ejected): ``control_trans`` holds the table itself, flattened;
- as trained (``flat: false``): an embedding ``wte`` [L, hidden] and an MLP
  ``control_trans`` = Linear(hidden → bottleneck), activation, Linear(bottleneck → width); the
  table is the MLP applied to the embedding, which is what ``adapters`` computes at every call.

Both lay the table out as PEFT does (row t: per layer i, keys then values, each kv heads ×
head size), so after this step the two formats run through the same cache mechanism.

Positions: PEFT hands the prefix to the model as a ``past_key_values`` cache, so the model
numbers the real tokens after it (L…L+T−1); ``adapters`` concatenates the prefix inside the
attention and the model never learns of it (0…T−1). ``AdapterHubPrefix`` therefore passes the
positions the model would compute without a cache: its own padding-aware rule where the
embeddings module has one (RoBERTa's ``create_position_ids_from_input_ids``), else 0…T−1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from hubcli.plugin_api import AttachTarget, CapabilityNotSupported, LoadedAdapter, ModelMismatchError
from hubcli.plugin_api.torch_modules import InputAdapter, activation
from plugins.architectures.prefix_tuning.config import PrefixTuningConfig

KEY = re.compile(r"(?:^|\.)prefix_tunings\.(?P<name>[^.]+)\.self_prefix\.(?P<param>.+)$")
SHARED_POOL = "prefix_tuning.prefix_tunings."
"""The shared copy's key prefix (per-layer copies start with the layer's path)."""


def _one_copy(adapter: LoadedAdapter) -> dict[str, torch.Tensor]:
    """Parameter → tensor, from the shared pool when saved, else from the first layer's copy."""
    params: dict[str, torch.Tensor] = {}
    for key in sorted(adapter.tensors, key=lambda k: (not k.startswith(SHARED_POOL), k)):
        found = KEY.search(key)
        if found is None:
            raise ModelMismatchError(f"adapter {adapter.name!r}: {key!r} is not an AdapterHub prefix weight")
        params.setdefault(found["param"], adapter.tensors[key])
    return params


def prefix_table(adapter: LoadedAdapter, width: int) -> torch.Tensor:
    """The [prefix length, ``width``] key/value table of ``adapter``."""
    config = PrefixTuningConfig.model_validate(adapter.config)
    if config.leave_out or config.use_gating:
        raise CapabilityNotSupported(
            f"adapter {adapter.name!r}: AdapterHub prefix tuning with leave_out or use_gating cannot run yet"
        )
    params = _one_copy(adapter)
    length = config.num_virtual_tokens
    if "control_trans" in params:
        flat = params["control_trans"]
        if flat.numel() != length * width:
            raise ModelMismatchError(
                f"adapter {adapter.name!r}: flat prefix has {flat.numel()} values, this model needs "
                f"{length} × {width}"
            )
        return flat.reshape(length, width)
    act = activation(config.non_linearity or "tanh")
    with torch.no_grad():
        hidden = act(
            F.linear(params["wte.weight"], params["control_trans.0.weight"], params["control_trans.0.bias"])
        )
        table = F.linear(hidden, params["control_trans.2.weight"], params["control_trans.2.bias"])
    if table.shape != (length, width):
        raise ModelMismatchError(
            f"adapter {adapter.name!r}: the prefix MLP gives {tuple(table.shape)}, this model needs "
            f"[{length}, {width}]"
        )
    return table


PositionRule = Callable[[dict[str, Any]], torch.Tensor]


def position_rule(target: AttachTarget) -> PositionRule:
    """How ``target``'s model numbers tokens when it has no cache, as a function of the call's
    inputs."""
    path = target.family.points.word_embeddings.rpartition(".")[0]
    embeddings = target.backbone.get_submodule(path) if path else target.backbone
    padding_aware = hasattr(embeddings, "create_position_ids_from_input_ids")

    def positions(inputs: dict[str, Any]) -> torch.Tensor:
        input_ids, embeds = inputs.get("input_ids"), inputs.get("inputs_embeds")
        if padding_aware and input_ids is not None:
            return embeddings.create_position_ids_from_input_ids(input_ids, embeddings.padding_idx)
        if padding_aware:
            return embeddings.create_position_ids_from_inputs_embeds(embeds, embeddings.padding_idx)
        reference = input_ids if input_ids is not None else embeds
        batch, length = reference.shape[:2]
        return torch.arange(length, device=reference.device).expand(batch, length)

    return positions


class AdapterHubPrefix(InputAdapter):
    """PEFT's prefix cache, with the positions ``adapters`` gives the real tokens."""

    def __init__(self, cache: InputAdapter, positions: PositionRule) -> None:
        super().__init__()
        self.cache = cache
        self.positions = positions

    def prepare(self, inputs: dict[str, Any], embed: torch.nn.Module) -> dict[str, Any]:
        if inputs.get("position_ids") is None:
            inputs["position_ids"] = self.positions(inputs)
        return self.cache.prepare(inputs, embed)

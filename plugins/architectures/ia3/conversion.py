"""IA³ between PEFT and AdapterHub, where both scale the same activation.

``adapters`` multiplies a projection's *output*, bias included, by ``lora_B · alpha`` (a
LoRA-family config with ``composition_mode: "scale"``, r = 1). PEFT does the same for its
ordinary target modules, but scales the *input* of its ``feedforward_modules`` (BERT's
``output.dense``, Llama's ``down_proj`` by default): with an activation function between the two
places, no AdapterHub vector reproduces that, so a PEFT IA³ with feed-forward modules is refused.

- PEFT → AdapterHub: every wrapped module must be an AdapterHub place of every layer (as for
  LoRA); ``ia3_l`` [out, 1] becomes ``lora_B`` with alpha 1. GPT-2's fused ``c_attn`` vector
  covers q, k and v, so all three are enabled.
- AdapterHub → PEFT: ``lora_B · alpha`` becomes ``ia3_l`` (no feed-forward modules); on a fused
  ``c_attn`` the thirds that ``adapters`` leaves alone get factor one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hubcli.plugin_api import LoadedAdapter
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.conversion import (
    adapterhub_envelope,
    adapterhub_modules,
    adapterhub_places_of,
    lora_family_method,
    peft_envelope_from_adapterhub,
    peft_targets,
    refusal,
    uniform_layers,
)
from hubcli.plugin_api.formats.writing import write_config, write_weights
from plugins.architectures.ia3.adapterhub_keys import spread_over_thirds
from plugins.architectures.ia3.config import IA3Config

VECTOR = "ia3_l"


def export(
    adapter: LoadedAdapter, fmt: str, folder: Path, *, name: str, model_type: str | None = None
) -> None:
    config = IA3Config.model_validate(adapter.config)
    if adapter.format == peft.FORMAT and fmt == adapterhub.FORMAT:
        _peft_to_adapterhub(adapter, config, folder, name, model_type)
    elif adapter.format == adapterhub.FORMAT and fmt == peft.FORMAT:
        _adapterhub_to_peft(adapter, config, folder)
    else:
        raise refusal(adapter, fmt, "no such conversion")


def _peft_to_adapterhub(
    adapter: LoadedAdapter, config: IA3Config, folder: Path, name: str, model_type: str | None
) -> None:
    fmt = adapterhub.FORMAT
    if config.modules_to_save:
        raise refusal(
            adapter,
            fmt,
            f"modules saved whole (modules_to_save={config.modules_to_save}) have no AdapterHub equivalent",
        )
    vectors: dict[str, torch.Tensor] = {}
    for key, tensor in adapter.tensors.items():
        path = peft.module_of(key, VECTOR)
        if path is None:
            raise refusal(adapter, fmt, f"tensor {key!r} has no AdapterHub equivalent")
        if config.is_feedforward(path):
            raise refusal(
                adapter,
                fmt,
                f"PEFT scales the input of feed-forward module {path!r} "
                "(feedforward_modules); AdapterHub IA³ scales outputs only, and an "
                "activation lies between the two",
            )
        vectors[path] = tensor
    places, modules, switches = adapterhub_places_of(adapter, fmt, model_type, list(vectors))
    _, leave_out = uniform_layers(adapter, fmt, modules)
    method = lora_family_method(
        set(switches.values()),
        leave_out,
        r=1,
        alpha=1,
        composition_mode="scale",
        dropout=0.0,
        init_weights="ia3",
    )
    tensors = {f"{path}.loras.{name}.lora_B": v.reshape(-1, 1) for path, v in vectors.items()}
    widths = (
        places.hidden_size(modules[path].inner, None, vector.numel()) for path, vector in vectors.items()
    )
    hidden = next((width for width in widths if width is not None), None)
    write_config(
        folder,
        adapterhub_envelope(adapter, method, name=name, hidden_size=hidden, model_type=places.model_type),
    )
    write_weights(folder, adapterhub.WEIGHT_FILES[0], tensors)


def _adapterhub_to_peft(adapter: LoadedAdapter, config: IA3Config, folder: Path) -> None:
    fmt = peft.FORMAT
    targets = config.targets
    assert isinstance(targets, adapterhub.AdapterHubTargets)
    if config.use_gating:
        raise refusal(adapter, fmt, "gated IA³ (use_gating) has no PEFT equivalent")
    if adapter.head_config is not None:
        raise refusal(
            adapter, fmt, "the AdapterHub prediction head (head_config.json) has no PEFT equivalent"
        )
    places, grouped, modules = adapterhub_modules(adapter, fmt, ("lora_B",))
    tensors: dict[str, torch.Tensor] = {}
    for path, params in grouped.items():
        vector = params["lora_B"].flatten() * config.scale
        if modules[path].inner == places.fused_qkv:
            thirds = targets.qkv_thirds()
            vector = spread_over_thirds(vector, thirds)
        tensors[f"{peft.MODULE_PREFIX}{path}.{VECTOR}"] = vector.reshape(-1, 1)
    envelope = adapterhub.Envelope.model_validate(adapter.raw_config)
    write_config(
        folder,
        {
            **peft_envelope_from_adapterhub(envelope),
            **peft_targets(places, modules, targets.leave_out, layer_option=False),
            "peft_type": "IA3",
            "feedforward_modules": [],
            "fan_in_fan_out": places.family.conv1d_projections,
            "init_ia3_weights": True,
            "modules_to_save": None,
        },
    )
    write_weights(folder, peft.WEIGHT_FILES[0], tensors)

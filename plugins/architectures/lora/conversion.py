"""LoRA between PEFT and AdapterHub: the same ΔW = s · B · A, renamed and re-described.

Both libraries add s · B(A(x)) to a projection's output with s = alpha / r, so a LoRA converts
exactly when the target library can say *where* the pairs go and with which scaling:

- PEFT → AdapterHub: ``adapters`` adapts q, k, v and two feed-forward projections in every layer
  it does not leave out, with one rank and one alpha. Per-module ranks, rsLoRA, DoRA, biases,
  saved heads and modules elsewhere (``o_proj``, ``gate_proj``, embeddings) cannot be said and
  are refused. A GPT-2 ``c_attn`` pair (A [r, in], B [3·out, r]) becomes the stacked q, k, v
  form: A repeated three times, B as it is — block g of B times block g of A is the original.
- AdapterHub → PEFT: keys lose ``.loras.<name>``; a stacked ``c_attn`` pair whose A blocks are
  equal collapses back to one A (so PEFT → AdapterHub → PEFT is the identity), otherwise it
  becomes one block-diagonal pair of rank n · r with alpha n · alpha (same s). Files saved by
  ``adapters`` < 1.1 trained with scaling 1: alpha = r keeps that.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hubcli.plugin_api import LoadedAdapter
from hubcli.plugin_api.formats import adapterhub, peft
from hubcli.plugin_api.formats.adapterhub import QKV_ORDER
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
from plugins.architectures.lora.config import LoraConfig

PEFT_WEIGHTS = peft.WEIGHT_FILES[0]
HUB_WEIGHTS = adapterhub.WEIGHT_FILES[0]


def export(
    adapter: LoadedAdapter, fmt: str, folder: Path, *, name: str, model_type: str | None = None
) -> None:
    config = LoraConfig.model_validate(adapter.config)
    if adapter.format == peft.FORMAT and fmt == adapterhub.FORMAT:
        _peft_to_adapterhub(adapter, config, folder, name, model_type)
    elif adapter.format == adapterhub.FORMAT and fmt == peft.FORMAT:
        _adapterhub_to_peft(adapter, config, folder)
    else:
        raise refusal(adapter, fmt, "no such conversion")


# -- PEFT → AdapterHub ----------------------------------------------------------------------


def _refuse_peft_options(adapter: LoadedAdapter, config: LoraConfig) -> None:
    """Options that change ΔW in ways AdapterHub's LoRAConfig has no field for."""
    inexpressible = {
        "per-module ranks (rank_pattern)": bool(config.rank_pattern),
        "per-module alphas (alpha_pattern)": bool(config.alpha_pattern),
        "rsLoRA scaling alpha/sqrt(r) (use_rslora)": config.scaling_rule == "alpha/sqrt(r)",
        "DoRA (use_dora)": config.use_dora,
        "a bias on lora_B (lora_bias)": config.lora_bias,
        f"trained base-layer biases (bias={config.bias!r})": config.bias != "none",
        f"modules saved whole (modules_to_save={config.modules_to_save})": bool(config.modules_to_save),
    }
    for what, present in inexpressible.items():
        if present:
            raise refusal(adapter, adapterhub.FORMAT, f"{what} has no AdapterHub equivalent")


def _peft_pairs(adapter: LoadedAdapter) -> dict[str, dict[str, torch.Tensor]]:
    """Module path → {"A", "B"}; anything else (embedding LoRA, DoRA magnitudes) is refused."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in adapter.tensors.items():
        for suffix, part in (("lora_A.weight", "A"), ("lora_B.weight", "B")):
            module = peft.module_of(key, suffix)
            if module is not None:
                pairs.setdefault(module, {})[part] = tensor
                break
        else:
            raise refusal(
                adapter,
                adapterhub.FORMAT,
                f"tensor {key!r} (embedding or convolution "
                "LoRA, or another extra) has no AdapterHub equivalent",
            )
    for module, pair in pairs.items():
        if pair["A"].dim() != 2:
            raise refusal(adapter, adapterhub.FORMAT, f"{module!r} is a convolution LoRA")
    return pairs


def _peft_to_adapterhub(
    adapter: LoadedAdapter, config: LoraConfig, folder: Path, name: str, model_type: str | None
) -> None:
    fmt = adapterhub.FORMAT
    _refuse_peft_options(adapter, config)
    pairs = _peft_pairs(adapter)
    places, modules, switches = adapterhub_places_of(adapter, fmt, model_type, list(pairs))
    _, leave_out = uniform_layers(adapter, fmt, modules)
    tensors: dict[str, torch.Tensor] = {}
    for path, pair in pairs.items():
        lora_a = pair["A"]
        if switches[modules[path].inner] == "qkv":
            lora_a = torch.cat([lora_a] * len(QKV_ORDER))  # one A per third, B already stacked q|k|v
        tensors[f"{path}.loras.{name}.lora_A"] = lora_a
        tensors[f"{path}.loras.{name}.lora_B"] = pair["B"]
    method = lora_family_method(
        set(switches.values()),
        leave_out,
        r=config.r,
        alpha=config.alpha,
        composition_mode="add",
        dropout=config.dropout,
        init_weights="lora",
    )
    hidden = next(
        width
        for path, pair in pairs.items()
        if (width := places.hidden_size(modules[path].inner, pair["A"].shape[1], pair["B"].shape[0]))
        is not None
    )
    write_config(
        folder,
        adapterhub_envelope(adapter, method, name=name, hidden_size=hidden, model_type=places.model_type),
    )
    write_weights(folder, HUB_WEIGHTS, tensors)


# -- AdapterHub → PEFT ----------------------------------------------------------------------


def _adapterhub_to_peft(adapter: LoadedAdapter, config: LoraConfig, folder: Path) -> None:
    fmt = peft.FORMAT
    targets = config.targets
    assert isinstance(targets, adapterhub.AdapterHubTargets)
    if config.use_gating or config.use_dora:
        raise refusal(adapter, fmt, "gated LoRA (use_gating) and DoRA have no PEFT equivalent in this form")
    if adapter.head_config is not None:
        raise refusal(
            adapter,
            fmt,
            "the AdapterHub prediction head (head_config.json) has no PEFT "
            "equivalent (PEFT saves the model's own head through modules_to_save)",
        )
    places, grouped, modules = adapterhub_modules(adapter, fmt, ("lora_A", "lora_B"))
    alpha = float(config.r) if config.scaling_rule == "1" else config.alpha
    tensors: dict[str, torch.Tensor] = {}
    ranks: dict[str, int] = {}
    for path, pair in grouped.items():
        lora_a, lora_b = pair["lora_A"], pair["lora_B"]
        if modules[path].inner == places.fused_qkv:
            lora_a, lora_b = _unstack_fused(lora_a, lora_b, targets, config.r)
            ranks[path] = lora_a.shape[0]
        tensors[f"{peft.MODULE_PREFIX}{path}.lora_A.weight"] = lora_a
        tensors[f"{peft.MODULE_PREFIX}{path}.lora_B.weight"] = lora_b
    r, alpha, rank_pattern, alpha_pattern = _ranks(ranks, len(modules), config.r, alpha)
    envelope = adapterhub.Envelope.model_validate(adapter.raw_config)
    write_config(
        folder,
        {
            **peft_envelope_from_adapterhub(envelope),
            **peft_targets(places, modules, targets.leave_out, layer_option=True),
            "peft_type": "LORA",
            "r": r,
            "lora_alpha": alpha,
            "rank_pattern": rank_pattern,
            "alpha_pattern": alpha_pattern,
            "lora_dropout": config.dropout,
            "fan_in_fan_out": places.family.conv1d_projections,
            "bias": "none",
            "use_rslora": False,
            "use_dora": False,
            "init_lora_weights": True,
            "modules_to_save": None,
        },
    )
    write_weights(folder, PEFT_WEIGHTS, tensors)


def _unstack_fused(
    lora_a: torch.Tensor, lora_b: torch.Tensor, targets: adapterhub.AdapterHubTargets, rank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The stacked pair of a fused q|k|v projection as one PEFT pair.

    Block g (the g-th enabled matrix) adds B_g · A_g to the g-th enabled third of the output.
    With all A_g equal that is B' · A_0 with B' = the B blocks placed in their thirds (zeros
    elsewhere); otherwise A' = the stacked A and B' block-diagonal, rank n · r."""
    thirds = targets.qkv_thirds()
    width = lora_b.shape[0] // len(thirds)
    blocks_a = [lora_a[g * rank : (g + 1) * rank] for g in range(len(thirds))]
    shared = all(torch.equal(blocks_a[0], block) for block in blocks_a)
    spread = lora_b.new_zeros(3 * width, rank if shared else rank * len(thirds))
    for group, third in enumerate(thirds):
        columns = slice(0, rank) if shared else slice(group * rank, (group + 1) * rank)
        spread[third * width : (third + 1) * width, columns] = lora_b[group * width : (group + 1) * width]
    return (blocks_a[0] if shared else lora_a), spread


def _ranks(
    fused: dict[str, int], modules: int, r: int, alpha: float
) -> tuple[int, float, dict[str, int], dict[str, float]]:
    """PEFT's r, lora_alpha, rank_pattern and alpha_pattern when fused modules changed rank;
    alpha grows with the rank so that s = alpha / r stays what AdapterHub used."""
    grown = {path: rank for path, rank in fused.items() if rank != r}
    if not grown:
        return r, alpha, {}, {}
    if len(fused) == modules and len(set(fused.values())) == 1:  # only fused modules: one rank
        rank = next(iter(fused.values()))
        return rank, alpha * rank / r, {}, {}
    return (
        r,
        alpha,
        {_exact(p): rank for p, rank in grown.items()},
        {_exact(p): alpha * rank / r for p, rank in grown.items()},
    )


def _exact(path: str) -> str:
    """A pattern key PEFT matches against this module only (``(.*\\.)?key$``)."""
    return path.replace(".", r"\.")

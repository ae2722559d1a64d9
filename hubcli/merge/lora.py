"""Merging LoRAs (saved by PEFT or AdapterHub) on ΔW = s·B·A, never on A and B separately.

Averaging A and B separately (PEFT's ``add_weighted_adapter(..., "linear")``) computes
(Σ wᵢBᵢ)(Σ wᵢAᵢ), whose cross terms BᵢAⱼ belong to no input: for independent LoRAs it is as far
from Σ wᵢΔWᵢ as ΔW itself (tests/test_merge_lora.py shows it). Instead, per wrapped module:

- exact (linear, task arithmetic): concatenate, A' = [A₁; …; Aₙ], B' = [w₁s₁B₁ | … | wₙsₙBₙ],
  so B'A' = Σ wᵢsᵢBᵢAᵢ exactly, with rank Σ rᵢ and scaling 1 (alpha = r);
- SVD to rank k: the best rank-k approximation of the merged ΔW (Eckart–Young), stored as
  B' = U_k·√Σ_k, A' = √Σ_k·V_kᵀ, with the relative Frobenius error ‖ΔW − B'A'‖/‖ΔW‖ reported.
  Linear merges take the SVD of the concatenated product through two thin QR factorisations
  (no dense out×in matrix); TIES and DARE act entry-wise on the dense ΔWᵢ, whose result is not
  low rank, so they always end in an SVD (default rank Σ rᵢ).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hubcli.merge.merged import MergedAdapter, average_saved_modules, same_layout, split_saved_modules
from hubcli.merge.spec import MergeError, MergeSpec
from hubcli.merge.task_vectors import combine
from hubcli.plugin_api import LoadedAdapter

PREFIX = "base_model.model."
PARTS = {".lora_A.weight": "A", ".lora_B.weight": "B"}
HUB_KEY = re.compile(r"^(?P<module>.+)\.loras\.[^.]+\.lora_(?P<part>[AB])$")
"""AdapterHub naming: ``<module path>.loras.<adapter name>.lora_A``."""
WEIGHTS_FILE = "adapter_model.safetensors"
EXACT_SVD_MAX = 1024
"""Largest smaller side of a dense ΔW given a full SVD: beyond it a full SVD takes minutes per
module on a CPU (a 2048² one about a minute on two cores), a randomized one about a second."""
OVERSAMPLING = 16
POWER_ITERATIONS = 6


@dataclass(frozen=True)
class LowRank:
    """One module's ΔW = scaling · B · A (A [r, in], B [out, r])."""

    A: torch.Tensor
    B: torch.Tensor
    scaling: float

    @property
    def rank(self) -> int:
        return self.A.shape[0]

    def dense(self) -> torch.Tensor:
        return self.scaling * (self.B @ self.A)


def pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """PEFT's ``rank_pattern``/``alpha_pattern`` lookup (first key matching the end of the path);
    the same rule as the LoRA plugin's, which hubcli may not import (tests check they agree)."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def scaling_of(config: dict[str, Any], module: str, rank: int) -> float:
    """s for ``module`` from the canonical LoRA config (rank taken from the tensors)."""
    rule = config.get("scaling_rule", "alpha/r")
    if rule == "1":
        return 1.0
    alpha = float(pattern_value(config.get("alpha_pattern") or {}, module, config["alpha"]))
    return alpha / math.sqrt(rank) if rule == "alpha/sqrt(r)" else alpha / rank


def low_rank_modules(adapter: LoadedAdapter, tensors: dict[str, torch.Tensor]) -> dict[str, LowRank]:
    """Module path → its ΔW factors from the adapter's LoRA ``tensors``, refusing what
    ΔW = s·B·A does not describe."""
    config = adapter.config
    refusals = (
        ("use_dora", "DoRA rescales W + ΔW per row"),
        ("lora_bias", "B has a bias"),
        ("use_gating", "a learned gate scales ΔW per token"),
    )
    for option, why in refusals:
        if config.get(option):
            raise MergeError(f"adapter {adapter.name!r}: {option} is set ({why}): not a plain ΔW = s·B·A")
    if config.get("bias", "none") != "none":
        raise MergeError(
            f"adapter {adapter.name!r}: trained base biases (bias={config['bias']!r}) cannot be merged"
        )
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        found = factor_of(adapter.format, key)
        if found is None or tensor.dim() != 2:
            raise MergeError(
                f"adapter {adapter.name!r}: tensor {key!r} is not a linear LoRA factor "
                "(embedding and convolution LoRAs cannot be merged yet)"
            )
        parts.setdefault(found[0], {})[found[1]] = tensor.to(torch.float32)
    for module, p in parts.items():
        if p["A"].shape[0] != p["B"].shape[1]:
            raise MergeError(
                f"adapter {adapter.name!r}: {module!r} stacks one lora_A per fused q/k/v matrix "
                "(AdapterHub's merged QKV), which cannot be merged yet"
            )
    return {
        module: LowRank(p["A"], p["B"], scaling_of(config, module, p["A"].shape[0]))
        for module, p in parts.items()
    }


def factor_of(file_format: str, key: str) -> tuple[str, str] | None:
    """``(module path, "A" | "B")`` for a LoRA factor's tensor name in ``file_format``."""
    if file_format == "adapterhub":
        found = HUB_KEY.match(key)
        return (found["module"], found["part"]) if found else None
    if file_format == "peft" and key.startswith(PREFIX):
        return next(((key[len(PREFIX) : -len(s)], p) for s, p in PARTS.items() if key.endswith(s)), None)
    return None


def concatenate(factors: Sequence[LowRank], weights: Sequence[float]) -> LowRank:
    """A' = [A₁; …], B' = [w₁s₁B₁ | …]: B'A' = Σ wᵢsᵢBᵢAᵢ exactly."""
    a = torch.cat([f.A for f in factors], dim=0)
    b = torch.cat([w * f.scaling * f.B for w, f in zip(weights, factors, strict=True)], dim=1)
    return LowRank(a, b, 1.0)


def svd_of_product(b: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """U, S, Vᵀ of B·A without forming it: B = Q_b R_b, Aᵀ = Q_a R_a, SVD of R_b R_aᵀ."""
    q_b, r_b = torch.linalg.qr(b.to(torch.float64))
    q_a, r_a = torch.linalg.qr(a.T.to(torch.float64))
    u, s, vh = torch.linalg.svd(r_b @ r_a.T, full_matrices=False)
    return q_b @ u, s, vh @ q_a.T


def truncate(
    u: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, rank: int, total: float | None = None
) -> tuple[LowRank, float, float]:
    """The leading rank-``rank`` factors of an SVD, the discarded energy and the total energy.

    ``total`` is ‖ΔW‖²_F; leave it out when ``s`` is the whole spectrum (it is then Σ σⱼ²).
    """
    k = min(rank, s.numel())
    root = s[:k].sqrt()
    factors = LowRank((root[:, None] * vh[:k]).to(torch.float32), (u[:, :k] * root).to(torch.float32), 1.0)
    total = float((s**2).sum()) if total is None else total
    return factors, max(total - float((s[:k] ** 2).sum()), 0.0), total


def randomized_svd(dense: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Leading SVD of ``dense`` by a randomized range finder with power iterations (Halko,
    Martinsson & Tropp 2011). The test matrix comes from a fixed seed, so a merge is
    reproducible (``torch.svd_lowrank`` draws from the global generator)."""
    width = min(rank + OVERSAMPLING, min(dense.shape))
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn(dense.shape[1], width, generator=generator, dtype=dense.dtype)
    basis = torch.linalg.qr(dense @ probe).Q
    for _ in range(POWER_ITERATIONS):
        basis = torch.linalg.qr(dense @ torch.linalg.qr(dense.T @ basis).Q).Q
    u, s, vh = torch.linalg.svd(basis.T @ dense, full_matrices=False)
    return basis @ u, s, vh


def best_low_rank(dense: torch.Tensor, rank: int) -> tuple[LowRank, float, float]:
    """The best rank-``rank`` approximation of a dense ΔW (Eckart–Young), by a full SVD up to
    ``EXACT_SVD_MAX``, else by ``randomized_svd``: near-optimal, and the error of what is stored
    is still exact, since its factors are an orthogonal projection of ΔW:
    ‖ΔW − B'A'‖² = ‖ΔW‖² − Σ_{j≤k} σⱼ²."""
    if min(dense.shape) <= EXACT_SVD_MAX:
        return truncate(*torch.linalg.svd(dense, full_matrices=False), rank)
    return truncate(*randomized_svd(dense, rank), rank, total=float((dense**2).sum()))


def merge_module(
    factors: Sequence[LowRank], spec: MergeSpec, generator: torch.Generator
) -> tuple[LowRank, float, float]:
    """One module's merged factors, with the discarded and the total energy Σσ² (0, 0 when
    exact). Linear merges without ``--rank`` concatenate; the rest truncate an SVD."""
    weights = spec.combination_weights
    if spec.method in ("ties", "dare"):
        dense = combine([f.dense().to(torch.float64) for f in factors], spec, generator)
        return best_low_rank(dense, spec.rank or sum(f.rank for f in factors))
    exact = concatenate(factors, weights)
    if spec.rank is None:
        return exact, 0.0, 0.0
    return truncate(*svd_of_product(exact.B, exact.A), spec.rank)


def merge(adapters: Sequence[LoadedAdapter], spec: MergeSpec) -> MergedAdapter:
    """Merge PEFT LoRAs module by module as ``spec`` says (see the module docstring)."""
    split = [split_saved_modules(adapter) for adapter in adapters]
    modules = [low_rank_modules(adapter, own) for adapter, (own, _) in zip(adapters, split, strict=True)]
    shapes = [{m: (f.B.shape[0], f.A.shape[1]) for m, f in group.items()} for group in modules]
    paths = same_layout([a.name for a in adapters], shapes, "modules")
    if len({bool(a.config.get("fan_in_fan_out")) for a in adapters}) > 1:
        raise MergeError("the inputs disagree on fan_in_fan_out (Conv1D orientation)")
    svd_only = spec.method in ("ties", "dare")
    if svd_only and spec.exact:
        raise MergeError(
            f"{spec.method} acts entry by entry on ΔW and its result is not low rank: "
            "give --rank R (default: the sum of the input ranks), not --exact"
        )
    generator = torch.Generator().manual_seed(spec.seed)
    merged: dict[str, LowRank] = {}
    discarded = total = worst = 0.0
    for path in paths:
        merged[path], lost, energy = merge_module([group[path] for group in modules], spec, generator)
        discarded, total = discarded + lost, total + energy
        worst = max(worst, math.sqrt(lost / energy) if energy > 0 else 0.0)
    summary = {
        "factoring": "svd" if svd_only or spec.rank is not None else "exact concatenation",
        "ranks": sorted({f.rank for f in merged.values()}),
        "relative_frobenius_error": math.sqrt(discarded / total) if total > 0 else 0.0,
        "max_module_relative_error": worst,
        "modules": len(paths),
    }
    saved = average_saved_modules(adapters, [s for _, s in split], spec)
    if saved:
        summary["saved_modules"] = "averaged (model soup, an approximation)"
    config = _peft_config(adapters[0], merged, bool(saved))
    return MergedAdapter(config, WEIGHTS_FILE, {**_peft_tensors(merged), **saved}, summary)


def _peft_tensors(merged: dict[str, LowRank]) -> dict[str, torch.Tensor]:
    tensors = {}
    for path, factors in merged.items():
        tensors[f"{PREFIX}{path}.lora_A.weight"] = factors.A.contiguous()
        tensors[f"{PREFIX}{path}.lora_B.weight"] = factors.B.contiguous()
    return tensors


def _peft_envelope(first: LoadedAdapter) -> dict[str, Any]:
    """PEFT's keys around the method for a merge of AdapterHub LoRAs (the result is always
    written in PEFT layout, which PEFT and the engine both run)."""
    return {
        "peft_type": "LORA",
        "task_type": None,
        "base_model_name_or_path": first.raw_config.get("model_name"),
        "inference_mode": True,
        "lora_dropout": first.config.get("dropout", 0.0),
        "fan_in_fan_out": False,
    }


def _peft_config(first: LoadedAdapter, merged: dict[str, LowRank], with_saved: bool) -> dict[str, Any]:
    """The first input's PEFT config with what the merge changed: exact module paths as
    targets, scaling 1 everywhere (alpha = rank), per-module ranks as patterns."""
    ranks = {path: f.rank for path, f in merged.items()}
    common = Counter(ranks.values()).most_common(1)[0][0]
    patterns = {re.escape(path): rank for path, rank in sorted(ranks.items()) if rank != common}
    config = dict(first.raw_config) if first.format == "peft" else _peft_envelope(first)
    config.update(
        peft_type="LORA",
        r=common,
        lora_alpha=common,
        rank_pattern=patterns,
        alpha_pattern=dict(patterns),
        target_modules=sorted(merged),
        exclude_modules=None,
        layers_to_transform=None,
        layers_pattern=None,
        use_rslora=False,
        use_dora=False,
        lora_bias=False,
        bias="none",
        modules_to_save=first.config.get("modules_to_save") if with_saved else None,
        init_lora_weights=True,
    )
    return config

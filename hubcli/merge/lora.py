"""Merging LoRAs on ΔW = s·B·A, never on A and B separately.

The inputs' factors and scalings come from the LoRA plugin (``module_updates``), whatever
format the adapters were saved in; the plugin writes the result (``write_updates``).

Averaging A and B separately (PEFT's ``add_weighted_adapter(..., "linear")``) computes
(Σ wᵢBᵢ)(Σ wᵢAᵢ), whose cross terms BᵢAⱼ belong to no input: for independent LoRAs it is as far
from Σ wᵢΔWᵢ as ΔW itself (tests/test_merge_lora.py shows it). Instead, per wrapped module:

- exact (linear, task arithmetic): concatenate, A' = [A₁; …; Aₙ], B' = [w₁s₁B₁ | … | wₙsₙBₙ],
  so B'A' = Σ wᵢsᵢBᵢAᵢ exactly, with rank Σ rᵢ and scaling 1 (alpha = r);
- SVD to rank k (``--rank``, and always for ``svd``, whose default k is the largest input
  rank): the best rank-k approximation of the merged ΔW (Eckart–Young), stored as
  B' = U_k·√Σ_k, A' = √Σ_k·V_kᵀ, with the relative Frobenius error ‖ΔW − B'A'‖/‖ΔW‖ reported.
  Weighted sums take the SVD of the concatenated product through two thin QR factorisations
  (no dense out×in matrix); TIES and the DARE methods act entry-wise on the dense ΔWᵢ, whose
  result is not low rank, so they always end in an SVD (default rank Σ rᵢ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import torch

from hubcli.merge.merged import MergedAdapter, average_saved_modules, same_layout
from hubcli.merge.spec import ENTRY_WISE_METHODS, MergeError, MergeSpec
from hubcli.merge.task_vectors import combine
from hubcli.plugin_api import LoadedAdapter, LowRankUpdate, ModuleUpdate

EXACT_SVD_MAX = 1024
"""Largest smaller side of a dense ΔW given a full SVD: beyond it a full SVD takes minutes per
module on a CPU (a 2048² one about a minute on two cores), a randomized one about a second."""
OVERSAMPLING = 16
POWER_ITERATIONS = 6


def low_rank_modules(adapter: LoadedAdapter, updates: Sequence[ModuleUpdate]) -> dict[str, LowRankUpdate]:
    """Module path → its ΔW factors, refusing updates that are not one whole module's ΔW."""
    modules = {}
    for update in updates:
        if not isinstance(update, LowRankUpdate):
            raise MergeError(
                f"adapter {adapter.name!r}: {update.module!r} has trained parameters besides ΔW = s·B·A "
                "(e.g. base biases), which cannot be merged"
            )
        if update.bias is not None:
            raise MergeError(
                f"adapter {adapter.name!r}: lora_bias is set (B has a bias): not a plain ΔW = s·B·A"
            )
        if update.part is not None:
            raise MergeError(
                f"adapter {adapter.name!r}: {update.module!r} stacks one lora_A per fused q/k/v matrix "
                "(AdapterHub's merged QKV), which cannot be merged yet"
            )
        modules[update.module] = replace(update, A=update.A.to(torch.float32), B=update.B.to(torch.float32))
    return modules


def concatenate(factors: Sequence[LowRankUpdate], weights: Sequence[float]) -> LowRankUpdate:
    """A' = [A₁; …], B' = [w₁s₁B₁ | …]: B'A' = Σ wᵢsᵢBᵢAᵢ exactly."""
    a = torch.cat([f.A for f in factors], dim=0)
    b = torch.cat([w * f.scaling * f.B for w, f in zip(weights, factors, strict=True)], dim=1)
    return LowRankUpdate(A=a, B=b, scaling=1.0)


def svd_of_product(b: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """U, S, Vᵀ of B·A without forming it: B = Q_b R_b, Aᵀ = Q_a R_a, SVD of R_b R_aᵀ."""
    q_b, r_b = torch.linalg.qr(b.to(torch.float64))
    q_a, r_a = torch.linalg.qr(a.T.to(torch.float64))
    u, s, vh = torch.linalg.svd(r_b @ r_a.T, full_matrices=False)
    return q_b @ u, s, vh @ q_a.T


def truncate(
    u: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, rank: int, total: float | None = None
) -> tuple[LowRankUpdate, float, float]:
    """The leading rank-``rank`` factors of an SVD, the discarded energy and the total energy.

    ``total`` is ‖ΔW‖²_F; leave it out when ``s`` is the whole spectrum (it is then Σ σⱼ²).
    """
    k = min(rank, s.numel())
    root = s[:k].sqrt()
    factors = LowRankUpdate(
        A=(root[:, None] * vh[:k]).to(torch.float32), B=(u[:, :k] * root).to(torch.float32), scaling=1.0
    )
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


def best_low_rank(dense: torch.Tensor, rank: int) -> tuple[LowRankUpdate, float, float]:
    """The best rank-``rank`` approximation of a dense ΔW (Eckart–Young), by a full SVD up to
    ``EXACT_SVD_MAX``, else by ``randomized_svd``: near-optimal, and the error of what is stored
    is still exact, since its factors are an orthogonal projection of ΔW:
    ‖ΔW − B'A'‖² = ‖ΔW‖² − Σ_{j≤k} σⱼ²."""
    if min(dense.shape) <= EXACT_SVD_MAX:
        return truncate(*torch.linalg.svd(dense, full_matrices=False), rank)
    return truncate(*randomized_svd(dense, rank), rank, total=float((dense**2).sum()))


def is_exact(spec: MergeSpec) -> bool:
    """Whether the result is stored exactly, by concatenation: a linear or task-arithmetic merge
    with no ``--rank``. Every other request ends in an SVD truncation."""
    return spec.rank is None and spec.method in ("linear", "task_arithmetic")


def merge_module(
    factors: Sequence[LowRankUpdate], spec: MergeSpec, generator: torch.Generator
) -> tuple[LowRankUpdate, float, float]:
    """One module's merged factors, with the discarded and the total energy Σσ² (0, 0 when
    exact). Weighted sums concatenate, and truncate only when a rank is asked for (``svd``
    always asks: by default for the largest input rank); entry-wise methods truncate the SVD of
    their dense result (by default at Σ rᵢ)."""
    if spec.method in ENTRY_WISE_METHODS:
        dense = combine([f.dense().to(torch.float64) for f in factors], spec, generator)
        return best_low_rank(dense, spec.rank or sum(f.rank for f in factors))
    exact = concatenate(factors, spec.combination_weights)
    if is_exact(spec):
        return exact, 0.0, 0.0
    return truncate(*svd_of_product(exact.B, exact.A), spec.rank or max(f.rank for f in factors))


def merge(
    adapters: Sequence[LoadedAdapter],
    updates: Sequence[Sequence[ModuleUpdate]],
    saved: Sequence[dict[str, torch.Tensor]],
    spec: MergeSpec,
) -> MergedAdapter:
    """Merge LoRAs module by module as ``spec`` says (see the module docstring)."""
    modules = [low_rank_modules(adapter, own) for adapter, own in zip(adapters, updates, strict=True)]
    shapes = [{m: f.shape for m, f in group.items()} for group in modules]
    paths = same_layout([a.name for a in adapters], shapes, "modules")
    generator = torch.Generator().manual_seed(spec.seed)
    merged: dict[str, LowRankUpdate] = {}
    discarded = total = worst = 0.0
    for path in paths:
        merged[path], lost, energy = merge_module([group[path] for group in modules], spec, generator)
        discarded, total = discarded + lost, total + energy
        worst = max(worst, math.sqrt(lost / energy) if energy > 0 else 0.0)
    summary = {
        "factoring": "exact concatenation" if is_exact(spec) else "svd",
        "ranks": sorted({f.rank for f in merged.values()}),
        "relative_frobenius_error": math.sqrt(discarded / total) if total > 0 else 0.0,
        "max_module_relative_error": worst,
        "modules": len(paths),
    }
    averaged = average_saved_modules(adapters, saved, spec)
    if averaged:
        summary["saved_modules"] = "averaged (model soup, an approximation)"
    result = [replace(f, module=path) for path, f in merged.items()]
    return MergedAdapter(result, averaged, summary)

"""Combining task vectors: linear, task arithmetic, TIES, DARE and DARE-TIES, one tensor at a time.

A *task vector* τᵢ is what input i adds to the base model: ΔWᵢ = sᵢ·Bᵢ·Aᵢ for LoRA, lᵢ − 1 for
IA³, the parameters themselves for bottleneck averaging. Every method returns one tensor of
the same shape; the architecture modules decide what the task vectors are and how the result
is stored again.

- linear / task arithmetic / svd: Σ wᵢ τᵢ (``MergeSpec.combination_weights`` normalises for
  linear; svd's truncation is the LoRA module's business).
- TIES (Yadav et al. 2023): trim each τᵢ to its ``density`` largest magnitudes, then the
  *disjoint mean*: elect the sign of each entry from the sum Σ wᵢ τ̂ᵢ and average only the
  entries that agree with it, weighted: Σ_{agree} wᵢ τ̂ᵢ / Σ_{agree} |wᵢ| (entries where none
  agree are 0).
- DARE (Yu et al. 2024): keep each entry of τᵢ with probability ``density`` (drop rate
  p = 1 − density) and rescale the survivors by 1/(1 − p), so the expected value is unchanged;
  then ``dare_linear`` takes Σ wᵢ τ̃ᵢ and ``dare_ties`` the disjoint mean of the τ̃ᵢ (DARE's
  drop in place of TIES' trim, as PEFT's and mergekit's ``dare_ties``). The masks come from one
  seeded ``torch.Generator`` that the caller consumes in a fixed order, so a merge is
  reproducible from its seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from hubcli.merge.spec import MergeSpec


def weighted_sum(vectors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Σ wᵢ τᵢ."""
    return sum((w * v for w, v in zip(weights, vectors, strict=True)), torch.zeros_like(vectors[0]))


def trim_by_magnitude(vector: torch.Tensor, density: float) -> torch.Tensor:
    """``vector`` with all but its ⌈density·n⌉ largest-magnitude entries set to 0 (TIES "trim").
    Entries equal in magnitude at the threshold are kept in index order. A linear-time
    selection (``kthvalue``), since ``topk`` of half a 4096² matrix takes seconds."""
    flat = vector.flatten()
    keep = max(1, math.ceil(density * flat.numel() - 1e-9))
    if keep >= flat.numel():
        return vector.clone()
    magnitude = flat.abs()
    threshold = magnitude.kthvalue(flat.numel() - keep + 1).values
    kept = magnitude > threshold
    at_threshold = (magnitude == threshold).nonzero().squeeze(1)
    kept[at_threshold[: keep - int(kept.sum())]] = True
    return torch.where(kept, flat, 0.0).view_as(vector)


def disjoint_mean(vectors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """TIES' last two steps, shared with DARE-TIES: elect each entry's sign by the weighted sum,
    then the weighted mean of the inputs that are non-zero with that sign. Averaging only the
    agreeing entries is what keeps opposite updates from cancelling each other out."""
    weighted = torch.stack([w * v for w, v in zip(weights, vectors, strict=True)])
    elected = torch.sign(weighted.sum(dim=0))
    agrees = (torch.sign(weighted) == elected) & (weighted != 0)
    scale = torch.tensor([abs(w) for w in weights], dtype=weighted.dtype).view(-1, *[1] * vectors[0].dim())
    total = (weighted * agrees).sum(dim=0)
    count = (scale * agrees).sum(dim=0)
    return torch.where(count > 0, total / count.clamp_min(torch.finfo(weighted.dtype).tiny), 0.0)


def ties(vectors: Sequence[torch.Tensor], weights: Sequence[float], density: float) -> torch.Tensor:
    """Trim, elect the sign by the weighted sum, then the disjoint weighted mean."""
    return disjoint_mean([trim_by_magnitude(v, density) for v in vectors], weights)


def dare_drop(vector: torch.Tensor, density: float, generator: torch.Generator) -> torch.Tensor:
    """Keep each entry with probability ``density`` and rescale the survivors by 1/density."""
    if density >= 1.0:
        return vector.clone()
    keep = torch.rand(vector.shape, generator=generator, dtype=torch.float64) < density
    return torch.where(keep, vector / density, 0.0)


def dare_linear(
    vectors: Sequence[torch.Tensor], weights: Sequence[float], density: float, generator: torch.Generator
) -> torch.Tensor:
    """Drop and rescale each input, then Σ wᵢ τ̃ᵢ."""
    return weighted_sum([dare_drop(v, density, generator) for v in vectors], weights)


def dare_ties(
    vectors: Sequence[torch.Tensor], weights: Sequence[float], density: float, generator: torch.Generator
) -> torch.Tensor:
    """Drop and rescale each input, then TIES' sign election and disjoint mean."""
    return disjoint_mean([dare_drop(v, density, generator) for v in vectors], weights)


def combine(vectors: Sequence[torch.Tensor], spec: MergeSpec, generator: torch.Generator) -> torch.Tensor:
    """One merged task vector from ``vectors`` (one per input, same shape) as ``spec`` asks."""
    weights = spec.combination_weights
    if spec.method == "ties":
        return ties(vectors, weights, spec.density)
    if spec.method == "dare_linear":
        return dare_linear(vectors, weights, spec.density, generator)
    if spec.method == "dare_ties":
        return dare_ties(vectors, weights, spec.density, generator)
    return weighted_sum(vectors, weights)

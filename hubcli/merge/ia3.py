"""Merging IA³ vectors: the task vector of a scaling vector l is its deviation l − 1.

IA³ multiplies an activation by l, so "no adaptation" is l = 1, not l = 0. We therefore merge
τᵢ = lᵢ − 1 with the chosen method and store l = 1 + merged τ. For linear merging (weights
summing to 1) this equals the weighted mean Σ wᵢ lᵢ, which is what PEFT's
``add_weighted_adapter`` computes for IA³; for task arithmetic, TIES and DARE, whose weights need
not sum to 1 and which zero out entries, only the deviation form is right: PEFT's Σ wᵢ lᵢ with
weights 1, 1 would double every activation that neither input changed.

The result is exact as a merge of vectors but, like every weight-space merge, only an
approximation of running the inputs together (stacking two IA³ adapters multiplies, l₁·l₂).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hubcli.merge.merged import MergedAdapter, average_saved_modules, same_layout
from hubcli.merge.spec import MergeError, MergeSpec
from hubcli.merge.task_vectors import combine
from hubcli.plugin_api import LoadedAdapter, ModuleUpdate, ScaleUpdate


def vectors_of(adapter: LoadedAdapter, updates: Sequence[ModuleUpdate]) -> dict[str, ScaleUpdate]:
    """Module path → its effective scaling vector (the IA³ plugin folds AdapterHub's alpha in)."""
    vectors = {}
    for update in updates:
        if not isinstance(update, ScaleUpdate) or update.part is not None:
            raise MergeError(f"adapter {adapter.name!r}: {update.module!r} has no IA³ scaling vector")
        vectors[update.module] = update
    return vectors


def merge(
    adapters: Sequence[LoadedAdapter],
    updates: Sequence[Sequence[ModuleUpdate]],
    saved: Sequence[dict[str, torch.Tensor]],
    spec: MergeSpec,
) -> MergedAdapter:
    if spec.rank is not None or spec.method == "svd":
        raise MergeError(
            "--rank and --method svd apply to LoRA; IA³ vectors merge entry by entry "
            "(for a plain weighted sum use --method task_arithmetic)"
        )
    groups = [vectors_of(adapter, own) for adapter, own in zip(adapters, updates, strict=True)]
    paths = same_layout(
        [a.name for a in adapters],
        [{m: tuple(v.vector.shape) for m, v in g.items()} for g in groups],
        "modules",
    )
    first = groups[0]
    for adapter, group in zip(adapters[1:], groups[1:], strict=True):
        for path in paths:
            if group[path].on_input != first[path].on_input:
                raise MergeError(
                    f"{adapters[0].name!r} and {adapter.name!r} disagree on whether {path!r} scales "
                    "its input or its output (feedforward_modules)"
                )
    averaged = average_saved_modules(adapters, saved, spec)
    generator = torch.Generator().manual_seed(spec.seed)
    merged = []
    for path in paths:
        deviations = [group[path].vector.to(torch.float64) - 1.0 for group in groups]
        vector = (1.0 + combine(deviations, spec, generator)).to(torch.float32)
        merged.append(ScaleUpdate(module=path, vector=vector, on_input=first[path].on_input))
    summary = {"rule": "l = 1 + merge(lᵢ − 1)", "modules": len(paths)}
    if averaged:
        summary["saved_modules"] = "averaged (model soup, an approximation)"
    return MergedAdapter(merged, averaged, summary)

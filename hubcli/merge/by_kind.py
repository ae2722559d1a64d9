"""Merging by the kind of update: the inputs, read as format-neutral updates through their
architecture plugin (``module_updates``), are merged by what they are (low-rank ΔW, scaling
vectors, parameters), whichever plugin described them. Also the checks that the inputs go
together and the one-line provenance of a merge. ``hubcli.services.merging`` registers the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hubcli.merge import bottleneck, ia3, lora
from hubcli.merge.merged import MergedAdapter, saved_modules_of, updates_of
from hubcli.merge.spec import DARE_METHODS, ENTRY_WISE_METHODS, MergeError, MergeSpec
from hubcli.plugin_api import (
    LoadedAdapter,
    LowRankUpdate,
    ModuleUpdate,
    ParameterUpdate,
    ScaleUpdate,
)
from registry import Adapter

Merger = Callable[
    [Sequence[LoadedAdapter], Sequence[Sequence[ModuleUpdate]], Sequence[dict[str, Any]], MergeSpec],
    MergedAdapter,
]
MERGERS: dict[type[ModuleUpdate], Merger] = {
    LowRankUpdate: lora.merge,
    ScaleUpdate: ia3.merge,
    ParameterUpdate: bottleneck.merge,
}
"""How each kind of update is merged, whichever plugin described it (in order of precedence)."""


def check_sources(rows: Sequence[Adapter]) -> None:
    """Same architecture, format, base model and model type (where the files name them)."""
    first = rows[0]
    for row in rows[1:]:
        for field, what in (
            ("architecture", "architectures"),
            ("format", "formats"),
            ("base_model", "base models"),
            ("model_type", "model types"),
            ("labels", "labels"),
        ):
            mine, theirs = getattr(first, field), getattr(row, field)
            if mine != theirs and (field in ("architecture", "format") or (mine and theirs)):
                raise MergeError(
                    f"{first.name!r} and {row.name!r} have different {what} ({mine} vs {theirs})"
                )


def describe(sources: Sequence[str], spec: MergeSpec, merged: MergedAdapter) -> str:
    """One line of provenance, e.g. ``merge linear of a (w=0.7), b (w=0.3); exact concatenation``."""
    inputs = ", ".join(f"{name} (w={weight:g})" for name, weight in zip(sources, spec.weights, strict=True))
    options = []
    if spec.method in ENTRY_WISE_METHODS:
        options.append(f"density={spec.density:g}")
    if spec.method in DARE_METHODS:
        options.append(f"seed={spec.seed}")
    if "factoring" in merged.summary:
        ranks = "/".join(str(r) for r in merged.summary["ranks"])
        error = merged.summary["relative_frobenius_error"]
        options.append(f"{merged.summary['factoring']} rank {ranks}, relative error {error:.3g}")
    tail = f"; {', '.join(options)}" if options else ""
    return f"merge {spec.method} of {inputs}{tail}"


def merge_updates(loaded: Sequence[LoadedAdapter], spec: MergeSpec) -> MergedAdapter:
    """The merge of ``loaded`` (already checked with ``check_sources``) by the kind of update
    the first one has."""
    updates = [updates_of(adapter) for adapter in loaded]
    return _merger(loaded[0], updates[0])(loaded, updates, [saved_modules_of(a) for a in loaded], spec)


def _merger(first: LoadedAdapter, updates: Sequence[ModuleUpdate]) -> Merger:
    """The merge for the first kind in ``MERGERS`` that ``first`` has (a LoRA with trained
    biases goes to the low-rank merge, which refuses the biases)."""
    kinds = {type(update) for update in updates}
    for kind, merger in MERGERS.items():
        if kind in kinds:
            return merger
    raise MergeError(f"adapter {first.name!r} has no module updates to merge")

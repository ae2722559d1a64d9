"""``merge_adapters``: registry adapters in, one new registry adapter out.

Everything is checked and computed before the registry is touched. The inputs are read as
format-neutral updates through their architecture plugin (``module_updates``), merged by the
kind of update (low-rank ΔW, scaling vectors, parameters), and the plugin writes the result as an
ordinary adapter folder (``write_updates``: PEFT layout for LoRA and IA³, AdapterHub for
bottleneck), which is registered
through ``import_adapter``, the one path by which adapters enter the registry, so a merged
adapter is validated exactly like an imported one. Provenance (inputs, method, weights, options)
goes into its description, and it gets the tag ``merged``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hubcli import discovery
from hubcli.engine.loading import read_adapter
from hubcli.importer import check_name, import_adapter
from hubcli.merge import bottleneck, ia3, lora
from hubcli.merge.merged import MergedAdapter, saved_modules_of, updates_of
from hubcli.merge.spec import DARE_METHODS, ENTRY_WISE_METHODS, MergeError, MergeSpec
from hubcli.plugin_api import (
    AdapterFolder,
    CapabilityNotSupported,
    LoadedAdapter,
    LowRankUpdate,
    ModuleUpdate,
    ParameterUpdate,
    ScaleUpdate,
)
from registry import Adapter, AdapterNotFound, Registry

MERGED_TAG = "merged"
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


@dataclass(frozen=True)
class MergeOutcome:
    adapter: Adapter
    report: dict[str, Any]


def _check_sources(rows: Sequence[Adapter]) -> None:
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


def merge_adapters(registry: Registry, name: str, sources: Sequence[str], spec: MergeSpec) -> MergeOutcome:
    """Merge registry adapters ``sources`` into a new adapter ``name``."""
    check_name(name)
    try:
        registry.get_adapter(name)
    except AdapterNotFound:
        pass
    else:
        raise MergeError(f"an adapter named {name!r} already exists (choose another name)")
    rows = [registry.get_adapter(source) for source in sources]
    _check_sources(rows)
    loaded = [read_adapter(registry, source) for source in sources]
    updates = [updates_of(adapter) for adapter in loaded]
    merged = _merger(loaded[0], updates[0])(loaded, updates, [saved_modules_of(a) for a in loaded], spec)
    description = describe(sources, spec, merged)
    plugin = discovery.architecture(rows[0].architecture)
    with registry.store.staging() as folder:
        try:
            plugin.write_updates(merged.updates, folder, sources=loaded, name=name, saved=merged.saved)
        except CapabilityNotSupported as exc:
            raise MergeError(str(exc)) from None
        outcome = import_adapter(
            registry,
            AdapterFolder(folder, label=f"merged {name}"),
            name=name,
            base_model=next((row.base_model for row in rows if row.base_model), None),
            source_kind="merge",
            source=", ".join(sources),
            tags=[MERGED_TAG],
            description=description,
            labels=next((row.labels for row in rows if row.labels), None),
            model_type=next((row.model_type for row in rows if row.model_type), None),
        )
    report = {
        "name": outcome.adapter.name,
        "architecture": rows[0].architecture,
        "method": spec.method,
        "inputs": list(sources),
        "weights": list(spec.weights),
        "description": description,
        **merged.summary,
    }
    return MergeOutcome(outcome.adapter, report)


def _merger(first: LoadedAdapter, updates: Sequence[ModuleUpdate]) -> Merger:
    """The merge for the first kind in ``MERGERS`` that ``first`` has (a LoRA with trained
    biases goes to the low-rank merge, which refuses the biases)."""
    kinds = {type(update) for update in updates}
    for kind, merger in MERGERS.items():
        if kind in kinds:
            return merger
    raise MergeError(f"adapter {first.name!r} has no module updates to merge")

"""``merge_adapters``: registry adapters in, one new registry adapter out.

Everything is checked and computed before the registry is touched; the result is written as an
ordinary adapter folder (PEFT layout for LoRA and IA³, AdapterHub for bottleneck) and registered
through ``import_adapter``, the one path by which adapters enter the registry, so a merged
adapter is validated exactly like an imported one. Provenance (inputs, method, weights, options)
goes into its description, and it gets the tag ``merged``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from safetensors.torch import save_file

from hubcli.adapter_folder import AdapterFolder
from hubcli.engine.loading import read_adapter
from hubcli.importer import check_name, import_adapter
from hubcli.merge import bottleneck, ia3, lora
from hubcli.merge.merged import MergedAdapter
from hubcli.merge.spec import MergeError, MergeSpec
from registry import Adapter, AdapterNotFound, Registry

MERGED_TAG = "merged"
SUPPORTED = ("lora", "ia3", "bottleneck")


@dataclass(frozen=True)
class MergeOutcome:
    adapter: Adapter
    report: dict[str, Any]


def _check_sources(rows: Sequence[Adapter]) -> None:
    """Same architecture, format, base model and model type (where the files name them)."""
    first = rows[0]
    if first.architecture not in SUPPORTED:
        raise MergeError(
            f"adapter {first.name!r} is {first.architecture}: merging supports {', '.join(SUPPORTED)}"
        )
    for row in rows[1:]:
        for field, what in (
            ("architecture", "architectures"),
            ("format", "formats"),
            ("base_model", "base models"),
            ("model_type", "model types"),
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
    if spec.method in ("ties", "dare"):
        options.append(f"density={spec.density:g}")
    if spec.method == "dare":
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
    architecture = rows[0].architecture
    if architecture == "lora":
        merged = lora.merge(loaded, spec)
    elif architecture == "ia3":
        merged = ia3.merge(loaded, spec)
    else:
        merged = bottleneck.merge(loaded, spec, name)
    description = describe(sources, spec, merged)
    with registry.store.staging() as folder:
        (folder / "adapter_config.json").write_text(json.dumps(merged.config, indent=2, sort_keys=True))
        save_file(merged.tensors, str(folder / merged.weights_file))
        outcome = import_adapter(
            registry,
            AdapterFolder(folder, label=f"merged {name}"),
            name=name,
            base_model=next((row.base_model for row in rows if row.base_model), None),
            source_kind="merge",
            source=", ".join(sources),
            tags=[MERGED_TAG],
            description=description,
        )
    report = {
        "name": outcome.adapter.name,
        "architecture": architecture,
        "method": spec.method,
        "inputs": list(sources),
        "weights": list(spec.weights),
        "description": description,
        **merged.summary,
    }
    return MergeOutcome(outcome.adapter, report)

"""Merging: registry adapters in, one new registry adapter out (``hubcli merge``).

Everything is checked and computed before the registry is touched. ``hubcli.merge`` holds the
maths (by kind of update, ``hubcli.merge.by_kind``); the architecture plugin writes the result
as an ordinary adapter folder (``write_updates``: PEFT layout for LoRA and IA³, AdapterHub for
bottleneck), which is registered through ``import_adapter``, the one path by which adapters
enter the registry, so a merged adapter is validated exactly like an imported one. Provenance
(inputs, method, weights, options) goes into its description, and it gets the tag ``merged``.
torch is imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from hubcli.merge.spec import MergeSpec
    from registry import Adapter, Registry

MERGED_TAG = "merged"


@dataclass(frozen=True)
class MergeResult:
    adapter: Adapter
    """The new registry entry."""
    report: dict[str, Any]
    """What ``hubcli merge --json`` prints: name, method, inputs, weights, description and the
    merge's own summary (ranks, approximation errors …)."""


def merge_adapters(
    registry: Registry,
    name: str,
    sources: Sequence[str],
    spec: MergeSpec,
    progress: ProgressCallback = ignore_progress,
) -> MergeResult:
    """Merge registry adapters ``sources`` into a new adapter ``name`` (``spec``, checked by
    ``hubcli.merge.spec.make_spec``, is the request: method, weights and options)."""
    from hubcli import discovery
    from hubcli.engine.loading import read_adapter
    from hubcli.importer import check_new_name, import_adapter
    from hubcli.merge.by_kind import check_sources, describe, merge_updates
    from hubcli.merge.spec import MergeError
    from hubcli.plugin_api import AdapterFolder, CapabilityNotSupported

    check_new_name(registry, name, MergeError)
    rows = [registry.get_adapter(source) for source in sources]
    check_sources(rows)
    progress(Progress("merging", detail=", ".join(sources)))
    loaded = [read_adapter(registry, source) for source in sources]
    merged = merge_updates(loaded, spec)
    description = describe(sources, spec, merged)
    plugin = discovery.architecture(rows[0].architecture)
    progress(Progress("registering", detail=name))
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
    return MergeResult(outcome.adapter, report)

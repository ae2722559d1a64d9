"""The registry adapters nearest to one adapter (``hubcli similar``).

Candidates are the adapters of the same method and base model. Each is compared on the modules
it shares with the query (after ``--matrices``), so candidates that adapt other matrices are
still ranked on what they have in common; those with nothing in common, or that cannot be
compared at all (DoRA, unreadable), are reported as skipped with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hubcli.analysis.modules import AdapterWeights, registry_weights
from hubcli.analysis.weights import distances, selected
from hubcli.plugin_api import HubcliError
from registry import Registry


@dataclass(frozen=True)
class Neighbour:
    name: str
    distance: float
    modules: int


def candidates(registry: Registry, name: str) -> list[str]:
    """Adapters that may be compared with ``name``: same architecture, base model and type."""
    query = registry.get_adapter(name)
    rows = registry.list_adapters(architecture=query.architecture, base_model=query.base_model or None)
    return [
        row.name
        for row in rows
        if row.name != name
        and (row.base_model or None) == (query.base_model or None)
        and not (row.model_type and query.model_type and row.model_type != query.model_type)
    ]


def nearest(
    registry: Registry,
    name: str,
    *,
    metric: str,
    matrices: Sequence[str] | None,
    top: int,
) -> tuple[list[Neighbour], dict[str, str]]:
    """The ``top`` nearest adapters and {skipped adapter: reason}."""
    query = registry_weights(registry, name)
    keys = {key for key in query.modules if not matrices or selected(key, matrices)}
    groups: dict[frozenset[str], list[AdapterWeights]] = defaultdict(list)
    skipped: dict[str, str] = {}
    for other in candidates(registry, name):
        try:
            weights = registry_weights(registry, other)
        except HubcliError as exc:
            skipped[other] = exc.message
            continue
        shared = frozenset(keys & set(weights.modules))
        if not shared:
            skipped[other] = "no adapted module in common"
            continue
        groups[shared].append(weights)
    found: list[Neighbour] = []
    for shared, group in groups.items():
        try:
            report = distances(
                [query.restricted(shared)], [w.restricted(shared) for w in group], metric=metric
            )
        except HubcliError as exc:
            skipped.update({weights.name: exc.message for weights in group})
            continue
        row = report.mean()[0]
        found.extend(Neighbour(n, float(d), len(shared)) for n, d in zip(report.columns, row, strict=True))
    return sorted(found, key=lambda n: (n.distance, n.name))[:top], skipped

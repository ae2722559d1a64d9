"""The measures of the merge-compatibility hint (``hubcli merge-hint``): the distance between
two LoRAs and the drop of their average; ``hubcli.services.merge_hints`` measures a pair and
stores it.

The seed study (FACTS.md, "Similarity measures") found that the Grassmann / cosine distance
between two LoRAs predicted the loss from averaging them (Spearman up to 0.77).
"""

from __future__ import annotations

from collections.abc import Sequence

from hubcli.analysis.modules import AdapterWeights, registry_weights
from hubcli.analysis.weights import distances
from hubcli.plugin_api import HubcliError
from registry import Registry

MERGE_METHOD = "linear"
LOWER_IS_BETTER = frozenset({"mse", "loss", "perplexity"})
"""Metrics where a larger value is worse: their drop is score(average) − mean, so a positive drop
always means the average is worse than its inputs."""


class MergeHintError(HubcliError):
    title = "Cannot measure the merge hint"


def drop(metric: str, inputs: Sequence[float], average: float) -> float:
    """How much worse the average is than the mean of its inputs (positive: worse)."""
    mean = sum(inputs) / len(inputs)
    return average - mean if metric in LOWER_IS_BETTER else mean - average


def low_rank_distance(
    registry: Registry, pair: Sequence[str], *, metric: str, matrices: Sequence[str] | None
) -> tuple[float, list[str]]:
    """(the mean distance of the pair over the compared modules, those modules)."""
    report = distances(_low_rank_weights(registry, pair), metric=metric, matrices=matrices)
    return float(report.mean()[0, 1]), list(report.per_module)


def _low_rank_weights(registry: Registry, pair: Sequence[str]) -> list[AdapterWeights]:
    """Both adapters' comparable weights; only low-rank (LoRA) updates have a linear average
    that is exactly a LoRA again and the subspaces the Grassmann distance needs."""
    weights = [registry_weights(registry, name) for name in pair]
    for found in weights:
        if not found.low_rank:
            raise MergeHintError(
                f"the merge-compatibility hint needs two LoRAs; {found.name!r} is a {found.architecture} adapter"
            )
    return weights

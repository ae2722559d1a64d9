"""The merge-compatibility hint (``hubcli merge-hint``): how far apart two LoRAs are, and how
much is lost when they are averaged, measured on a dataset and stored as one registry row.

The seed study (FACTS.md, "Similarity measures") found that the Grassmann / cosine distance
between two LoRAs predicted the loss from averaging them (Spearman up to 0.77). One pair says
little; the point is to collect pairs, so each measurement becomes one ``Evaluation`` row that
``hint_records.hint_groups`` reads back and relates (Spearman) over many pairs.

The average is a real ``hubcli merge`` (linear, exact concatenation) evaluated by the eval
runner, so it is exactly what a user would get. It must pass through the registry (the runner
stitches registry adapters), so it lives there under a temporary name only while it is scored
and is removed afterwards, whatever happens. Scores of A and B already stored on the same
examples (same dataset fingerprint, task, base and dtype) are reused; missing ones are measured
and stored as ordinary evaluations, which later pairs with A or B then reuse.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hubcli import __version__
from hubcli.analysis.hint_records import pair_target
from hubcli.analysis.modules import AdapterWeights, registry_weights
from hubcli.analysis.weights import distances
from hubcli.plugin_api import HubcliError
from hubcli.services.evaluating import EvalRequest, EvalResult, evaluate
from registry import Evaluation, Registry

TEMPORARY_PREFIX = "merge-hint-tmp-"
"""Name prefix of the averaged adapter while it is scored (recognisable should a crash leave it)."""
MERGE_METHOD = "linear"
LOWER_IS_BETTER = frozenset({"mse", "loss", "perplexity"})
"""Metrics where a larger value is worse: their drop is score(average) − mean, so a positive drop
always means the average is worse than its inputs."""


class MergeHintError(HubcliError):
    title = "Cannot measure the merge hint"


@dataclass(frozen=True)
class MergeHint:
    """One measured pair: the distance, every metric's drop, and the stored row."""

    pair: tuple[str, str]
    distance: float
    scores: dict[str, dict[str, float]]
    """{A: scores, B: scores, "average": scores}."""
    drops: dict[str, float]
    reused: list[str]
    """The inputs whose stored evaluations were reused instead of measured."""
    row: Evaluation


def drop(metric: str, inputs: Sequence[float], average: float) -> float:
    """How much worse the average is than the mean of its inputs (positive: worse)."""
    mean = sum(inputs) / len(inputs)
    return average - mean if metric in LOWER_IS_BETTER else mean - average


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


def _check_same_labels(registry: Registry, pair: Sequence[str]) -> None:
    """Heads with different labels have no meaningful average (said before any work starts)."""
    found = {name: registry.get_adapter(name).labels for name in pair}
    distinct = {tuple(labels) for labels in found.values() if labels}
    if len(distinct) > 1:
        listed = "; ".join(f"{name}: {', '.join(labels or [])}" for name, labels in found.items())
        raise MergeHintError(f"the heads have different labels ({listed}): averaging them means nothing")


def _evaluate_average(registry: Registry, pair: Sequence[str], request: EvalRequest) -> EvalResult:
    """Merge the pair into a temporary registry adapter, score it without storing, remove it.

    The merge carries the inputs' shared label names, by which the eval runner matches the
    dataset to the head."""
    from hubcli.services.merging import merge_adapters
    from hubcli.merge.spec import make_spec

    _check_same_labels(registry, pair)
    temporary = f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}"
    merge_adapters(registry, temporary, pair, make_spec(len(pair), method=MERGE_METHOD))
    try:
        return evaluate(registry, replace(request, target=temporary), store=False)
    finally:
        registry.remove_adapter(temporary)


def _stored_scores(registry: Registry, name: str, like: EvalResult, dtype: str) -> dict[str, float] | None:
    """The latest stored scores of ``name`` on the same examples as ``like``, if every metric
    of ``like`` is there."""
    found: dict[str, float] = {}
    for row in registry.evaluations(target=name):
        same = (row.dataset_fingerprint, row.task, row.base_model, row.dtype) == (
            like.fingerprint,
            like.task,
            like.base,
            dtype,
        )
        if same and not (row.extra or {}).get("branch"):
            found[row.metric] = row.value  # ordered by time: the latest wins
    wanted = like.branches[0].scores
    return {m: found[m] for m in wanted} if set(wanted) <= set(found) else None


def measure(
    registry: Registry,
    a: str,
    b: str,
    request: EvalRequest,
    *,
    metric: str,
    matrices: Sequence[str] | None,
    score: str | None,
) -> MergeHint:
    """Distance between LoRAs ``a`` and ``b``, drop of their average on ``request.dataset``;
    stores one row (the drop of ``score``, default the task's first metric) and returns it."""
    if a == b:
        raise MergeHintError("give two different adapters")
    pair = (a, b)
    report = distances(_low_rank_weights(registry, pair), metric=metric, matrices=matrices)
    distance = float(report.mean()[0, 1])
    average = _evaluate_average(registry, pair, request)
    measured = average.branches[0].scores
    if score is not None and score not in measured:
        raise MergeHintError(f"--score {score!r} is not a metric of this task (choose {', '.join(measured)})")
    scores: dict[str, dict[str, float]] = {}
    reused = []
    for name in pair:
        stored = _stored_scores(registry, name, average, request.dtype)
        if stored is None:
            stored = evaluate(registry, replace(request, target=name)).branches[0].scores
        else:
            reused.append(name)
        scores[name] = stored
    scores["average"] = measured
    drops = {m: drop(m, [scores[n][m] for n in pair], v) for m, v in scores["average"].items()}
    chosen = score or next(iter(drops))
    row = _row(
        pair,
        average,
        request,
        distance=distance,
        metric=metric,
        matrices=matrices,
        score=chosen,
        scores=scores,
        drops=drops,
        modules=list(report.per_module),
    )
    registry.add_evaluations([row])
    return MergeHint(pair, distance, scores, drops, reused, row)


def _row(
    pair: Sequence[str],
    average: EvalResult,
    request: EvalRequest,
    *,
    distance: float,
    metric: str,
    matrices: Sequence[str] | None,
    score: str,
    scores: dict[str, dict[str, float]],
    drops: dict[str, float],
    modules: list[str],
) -> Evaluation:
    extra: dict[str, Any] = {
        "merge_hint": True,
        "adapters": list(pair),
        "distance_metric": metric,
        "distance": distance,
        "matrices": list(matrices) if matrices else "all",
        "modules": modules,
        "merge_method": MERGE_METHOD,
        "score": score,
        "scores": scores,
        "drops": drops,
    }
    return Evaluation(
        adapter_id=None,
        target=pair_target(*pair),
        base_model=average.base,
        dataset=average.dataset,
        dataset_fingerprint=average.fingerprint,
        split=average.split,
        task=average.task,
        metric=f"{score}_drop",
        value=drops[score],
        n=average.n,
        hubcli_version=__version__,
        device=request.device,
        dtype=request.dtype,
        extra=extra,
    )

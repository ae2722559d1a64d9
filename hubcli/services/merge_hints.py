"""Merge hints: how far apart two LoRAs are, and how much is lost when they are averaged,
measured on a dataset and stored as one registry row (``hubcli merge-hint``).

One pair says little; the point is to collect pairs, so each measurement becomes one
``Evaluation`` row that ``hubcli.analysis.hint_records`` reads back and relates over many pairs.
The average is a real merge (the merging service, linear, exact concatenation) scored by the
evaluating service, so it is exactly what a user would get. It must pass through the registry
(eval stitches registry adapters), so it lives there under a temporary name only while it is
scored and is removed afterwards, whatever happens. Scores of A and B already stored on the same
examples (same dataset fingerprint, task, base and dtype) are reused; missing ones are measured
and stored as ordinary evaluations, which later pairs with A or B then reuse. The distance and
the drop are ``hubcli.analysis.merge_hint``'s. torch is imported inside the functions only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from hubcli.services.evaluating import EvalRequest, EvalResult
    from registry import Evaluation, Registry

TEMPORARY_PREFIX = "merge-hint-tmp-"
"""Name prefix of the averaged adapter while it is scored (recognisable should a crash leave it)."""


@dataclass(frozen=True)
class MergeHintRequest:
    """The pair, how to evaluate it (``evaluation``'s target is replaced by each adapter), the
    distance ``metric`` over ``matrices`` (None: all), and the ``score`` whose drop is stored
    (None: the task's first metric)."""

    a: str
    b: str
    evaluation: EvalRequest
    metric: str
    matrices: Sequence[str] | None = None
    score: str | None = None


@dataclass(frozen=True)
class MergeHintResult:
    """One measured pair: the distance, every metric's drop, and the stored row."""

    pair: tuple[str, str]
    distance: float
    scores: dict[str, dict[str, float]]
    """{A: scores, B: scores, "average": scores}."""
    drops: dict[str, float]
    reused: list[str]
    """The inputs whose stored evaluations were reused instead of measured."""
    row: Evaluation


def measure(
    registry: Registry, request: MergeHintRequest, progress: ProgressCallback = ignore_progress
) -> MergeHintResult:
    """Distance between LoRAs ``a`` and ``b``, drop of their average on the dataset; stores one
    row (the drop of ``score``) and returns it."""
    from hubcli.analysis.hint_records import hint_row
    from hubcli.analysis.merge_hint import MERGE_METHOD, MergeHintError, drop, low_rank_distance
    from hubcli.services.evaluating import evaluate

    if request.a == request.b:
        raise MergeHintError("give two different adapters")
    pair = (request.a, request.b)
    progress(Progress("measuring the distance", detail=" ↔ ".join(pair)))
    distance, modules = low_rank_distance(registry, pair, metric=request.metric, matrices=request.matrices)
    average = _evaluate_average(registry, pair, request.evaluation, progress)
    measured = average.branches[0].scores
    if request.score is not None and request.score not in measured:
        raise MergeHintError(
            f"--score {request.score!r} is not a metric of this task (choose {', '.join(measured)})"
        )
    scores: dict[str, dict[str, float]] = {}
    reused = []
    for name in pair:
        stored = _stored_scores(registry, name, average, request.evaluation.dtype)
        if stored is None:
            progress(Progress("evaluating", detail=name))
            stored = evaluate(registry, replace(request.evaluation, target=name)).branches[0].scores
        else:
            reused.append(name)
        scores[name] = stored
    scores["average"] = measured
    drops = {m: drop(m, [scores[n][m] for n in pair], v) for m, v in scores["average"].items()}
    row = hint_row(
        pair,
        average,
        device=request.evaluation.device,
        dtype=request.evaluation.dtype,
        distance=distance,
        metric=request.metric,
        matrices=request.matrices,
        merge_method=MERGE_METHOD,
        score=request.score or next(iter(drops)),
        scores=scores,
        drops=drops,
        modules=modules,
    )
    registry.add_evaluations([row])
    return MergeHintResult(pair, distance, scores, drops, reused, row)


def _check_same_labels(registry: Registry, pair: Sequence[str]) -> None:
    """Heads with different labels have no meaningful average (said before any work starts)."""
    from hubcli.analysis.merge_hint import MergeHintError

    found = {name: registry.get_adapter(name).labels for name in pair}
    distinct = {tuple(labels) for labels in found.values() if labels}
    if len(distinct) > 1:
        listed = "; ".join(f"{name}: {', '.join(labels or [])}" for name, labels in found.items())
        raise MergeHintError(f"the heads have different labels ({listed}): averaging them means nothing")


def _evaluate_average(
    registry: Registry, pair: Sequence[str], request: EvalRequest, progress: ProgressCallback
) -> EvalResult:
    """Merge the pair into a temporary registry adapter, score it without storing, remove it.

    The merge carries the inputs' shared label names, by which eval matches the dataset to the
    head."""
    from hubcli.analysis.merge_hint import MERGE_METHOD
    from hubcli.merge.spec import make_spec
    from hubcli.services.evaluating import evaluate
    from hubcli.services.merging import merge_adapters

    _check_same_labels(registry, pair)
    temporary = f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}"
    progress(Progress("merging and evaluating", detail=" + ".join(pair)))
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

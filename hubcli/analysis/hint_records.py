"""Stored merge-compatibility hints: the row one measured pair becomes, and the rows read back
(``hubcli merge-hints``), free of torch.

Each measured pair is one ``Evaluation`` row (``hint_row``; ``hubcli.services.merge_hints``
measures it). Pairs are related only when
measured alike: on the same examples (dataset fingerprint), with the same distance metric and
matrices and the drop of the same score. Each such group gets its own Spearman correlation,
rank-based as in the seed study, because drop and distance need not be linearly related.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli import __version__
from registry import Evaluation, Registry

if TYPE_CHECKING:
    from hubcli.services.evaluating import EvalResult

TARGET_PREFIX = "merge-hint("
MIN_PAIRS_FOR_CORRELATION = 3


def pair_target(a: str, b: str) -> str:
    """The stored target of a pair, names sorted: (A, B) and (B, A) are the same average."""
    first, second = sorted((a, b))
    return f"{TARGET_PREFIX}{first}, {second})"


def hint_row(
    pair: Sequence[str],
    average: EvalResult,
    *,
    device: str,
    dtype: str,
    distance: float,
    metric: str,
    matrices: Sequence[str] | None,
    merge_method: str,
    score: str,
    scores: dict[str, dict[str, float]],
    drops: dict[str, float],
    modules: list[str],
) -> Evaluation:
    """The row of one measured pair: its value the drop of ``score``, everything else measured
    in ``extra`` (what ``hint_groups`` groups by)."""
    extra: dict[str, Any] = {
        "merge_hint": True,
        "adapters": list(pair),
        "distance_metric": metric,
        "distance": distance,
        "matrices": list(matrices) if matrices else "all",
        "modules": modules,
        "merge_method": merge_method,
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
        device=device,
        dtype=dtype,
        extra=extra,
    )


@dataclass(frozen=True)
class HintGroup:
    """Pairs measured alike, the latest measurement of each, and their rank correlation."""

    dataset: str
    split: str | None
    task: str | None
    distance_metric: str
    matrices: str
    drop_metric: str
    rows: list[Evaluation]
    spearman: float | None
    """None with fewer than three pairs, or when distance or drop is constant."""


def _is_hint(row: Evaluation) -> bool:
    return row.target.startswith(TARGET_PREFIX) and bool((row.extra or {}).get("merge_hint"))


def _matrices_label(extra: dict[str, object]) -> str:
    matrices = extra.get("matrices", "all")
    return ",".join(matrices) if isinstance(matrices, list) else str(matrices)


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation, None where it is undefined."""
    if len(xs) < MIN_PAIRS_FOR_CORRELATION or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    from scipy.stats import spearmanr

    value = float(spearmanr(xs, ys).statistic)
    return None if math.isnan(value) else value


def hint_groups(registry: Registry, dataset: str | None = None) -> list[HintGroup]:
    """Stored hints (on ``dataset`` as stored, or all), grouped by how they were measured."""
    latest: dict[tuple[str | None, str, str, str], dict[str, Evaluation]] = defaultdict(dict)
    for row in registry.evaluations(dataset=dataset):
        if _is_hint(row):
            extra = row.extra or {}
            key = (row.dataset_fingerprint, str(extra["distance_metric"]), _matrices_label(extra), row.metric)
            latest[key][row.target] = row  # rows come oldest first: the latest wins
    groups = []
    for (_, metric, matrices, drop_metric), by_target in latest.items():
        rows = sorted(by_target.values(), key=lambda r: float((r.extra or {})["distance"]))
        first = rows[0]
        correlation = spearman([float((r.extra or {})["distance"]) for r in rows], [r.value for r in rows])
        groups.append(
            HintGroup(
                first.dataset, first.split, first.task, metric, matrices, drop_metric, rows, correlation
            )
        )
    return groups

"""Running a model over a dataset in batches and scoring every branch; turning the scores into
registry rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hubcli import __version__
from hubcli.evaluate.data import Dataset
from hubcli.evaluate.tasks import Task
from registry import Evaluation


@dataclass(frozen=True)
class BranchScores:
    name: str | None
    adapter_id: int | None
    scores: dict[str, float]


def batches(rows: Sequence[dict[str, Any]], size: int) -> list[Sequence[dict[str, Any]]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def score(
    run: Callable[[dict[str, torch.Tensor]], list[torch.Tensor]],
    tasks: Sequence[Task],
    rows: Sequence[dict[str, Any]],
    batch_size: int,
    on_batch: Callable[[int], None] = lambda _: None,
) -> list[dict[str, float]]:
    """Metrics of every output of ``run`` (one ``Task`` per output: branches may have
    different heads) over ``rows``; ``on_batch(n)`` after each batch of n rows."""
    scorers = [task.scorer() for task in tasks]
    with torch.inference_mode():
        for chunk in batches(rows, batch_size):
            per_task = [task.encode(chunk) for task in tasks]
            outputs = run(per_task[0][0])
            for scorer, logits, (_, targets) in zip(scorers, outputs, per_task, strict=True):
                scorer.add(logits, targets)
            on_batch(len(chunk))
    return [scorer.scores() for scorer in scorers]


def evaluation_rows(
    *,
    target: str,
    base: str,
    dataset: Dataset,
    fingerprint: str,
    task: str,
    results: Sequence[BranchScores],
    n: int,
    device: str,
    dtype: str,
    extra: dict[str, Any] | None = None,
) -> list[Evaluation]:
    """One ``Evaluation`` per metric per branch."""
    return [
        Evaluation(
            adapter_id=branch.adapter_id,
            target=target,
            base_model=base,
            dataset=dataset.name,
            dataset_fingerprint=fingerprint,
            split=dataset.split,
            task=task,
            metric=metric,
            value=value,
            n=n,
            hubcli_version=__version__,
            device=device,
            dtype=dtype,
            extra={**(extra or {}), **({"branch": branch.name} if branch.name else {})} or None,
        )
        for branch in results
        for metric, value in branch.scores.items()
    ]

"""Evaluating: score an adapter, a composition or a saved recipe (or ``-``, the bare base model)
on a dataset and store one registry row per metric per branch.

A TARGET is stitched through ``hubcli.services.stitching``, so eval runs exactly what
``hubcli stitch`` and ``predict`` run; ``hubcli.evaluate`` holds the parts (datasets, tasks,
metrics, the batch loop). Training, the demo and the merge hints evaluate through here too.
torch, transformers, scikit-learn and datasets are imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from hubcli.evaluate.data import Dataset
    from hubcli.evaluate.runner import BranchScores
    from hubcli.evaluate.targets import Runnable
    from hubcli.evaluate.tasks import Fields
    from registry import Registry

SCORING = "scoring rows"
"""The stage of the progress events that count rows."""


@dataclass(frozen=True)
class EvalRequest:
    target: str
    dataset: str | Dataset
    """A file or Hub id, or rows already loaded (training evaluates its own held-out rows)."""
    split: str | None = None
    task: str | None = None
    text_field: str | None = None
    text_pair_field: str | None = None
    label_field: str | None = None
    metrics: Sequence[str] = ()
    batch_size: int = 32
    limit: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    base: str | None = None
    max_length: int = 128
    extra: dict[str, Any] = field(default_factory=dict)
    """Stored with every row (e.g. the training run that asked for the evaluation)."""


@dataclass(frozen=True)
class EvalResult:
    target: str
    base: str
    dataset: str
    split: str | None
    task: str
    n: int
    fingerprint: str
    branches: list[BranchScores]

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "target": self.target,
            "base": self.base,
            "dataset": self.dataset,
            "split": self.split,
            "task": self.task,
            "n": self.n,
            "fingerprint": self.fingerprint,
            "branches": [{"branch": b.name, "scores": b.scores} for b in self.branches],
        }


def evaluate(
    registry: Registry,
    request: EvalRequest,
    progress: ProgressCallback = ignore_progress,
    *,
    store: bool = True,
) -> EvalResult:
    """Evaluate ``request.target`` on ``request.dataset``; store one row per metric per branch
    (unless ``store`` is false) and return the scores.

    Progress: one event without a count while the model and the data load, then ``SCORING``
    events counting the rows done (the first, 0 of n, once the rows are ready)."""
    from hubcli.engine.loading import load_tokenizer
    from hubcli.evaluate import data as datasets
    from hubcli.evaluate import metrics
    from hubcli.evaluate.runner import BranchScores, evaluation_rows, score
    from hubcli.evaluate.targets import BARE
    from hubcli.evaluate.tasks import TASKS, Task, TaskError, infer_task, label_names_of, resolve_fields

    if request.task is not None and request.task not in TASKS:
        raise TaskError(f"unknown task {request.task!r} (choose {', '.join(TASKS)})")
    progress(Progress("loading the model and the data"))
    if isinstance(request.dataset, datasets.Dataset):
        dataset = request.dataset
    else:
        dataset = datasets.load(request.dataset, request.split)
    rows = dataset.rows[: request.limit] if request.limit else dataset.rows
    if request.target == BARE:
        runnable, task_name, fields = _bare_target(request, dataset, rows)
    else:
        runnable = stitch_target(
            registry, request.target, request.base, dtype=request.dtype, device=request.device
        )
        task_name = request.task or infer_task(runnable.peft_task, rows, request.label_field)
        fields = resolve_fields(
            task_name, rows[0], request.text_field, request.text_pair_field, request.label_field
        )
    tokenizer = load_tokenizer(runnable.base)
    tasks = []
    for branch in runnable.branches:
        task = Task(task_name, tokenizer, fields, branch.labels, dataset.label_names, request.max_length)
        if fields.label is not None and task_name != "regression":
            task.use_labels(label_names_of(dataset, fields, task_name == "token-classification"))
        tasks.append(task)
    done = [0]

    def scored(count: int) -> None:
        done[0] += count
        progress(Progress(SCORING, done[0], len(rows)))

    progress(Progress(SCORING, 0, len(rows)))
    scores = score(runnable.run, tasks, rows, request.batch_size, scored)
    results = [
        BranchScores(branch.name, branch.adapter_id, metrics.select(found, request.metrics))
        for branch, found in zip(runnable.branches, scores, strict=True)
    ]
    fingerprint = dataset.fingerprint(fields.names(), request.limit)
    result = EvalResult(
        request.target, runnable.base, dataset.name, dataset.split, task_name, len(rows), fingerprint, results
    )
    if store:
        registry.add_evaluations(
            evaluation_rows(
                target=request.target,
                base=runnable.base,
                dataset=dataset,
                fingerprint=fingerprint,
                task=task_name,
                results=results,
                n=len(rows),
                device=request.device,
                dtype=request.dtype,
                extra=request.extra,
            )
        )
    return result


def _bare_target(
    request: EvalRequest, dataset: Dataset, rows: Sequence[dict[str, Any]]
) -> tuple[Runnable, str, Fields]:
    """(runnable, task, fields) for TARGET ``-``: the task from the data, the head over the
    dataset's labels."""
    from hubcli.evaluate.targets import bare_base
    from hubcli.evaluate.tasks import infer_task, label_names_of, resolve_fields

    task_name = request.task or infer_task(None, rows, request.label_field)
    fields = resolve_fields(
        task_name, rows[0], request.text_field, request.text_pair_field, request.label_field
    )
    token_level = task_name == "token-classification"
    data_labels = (
        []
        if fields.label is None or task_name == "regression"
        else label_names_of(dataset, fields, token_level)
    )
    runnable = bare_base(request.base, task_name, data_labels, dtype=request.dtype, device=request.device)
    return runnable, task_name, fields


def stitch_target(registry: Registry, target: str, base: str | None, *, dtype: str, device: str) -> Runnable:
    """The model TARGET names, stitched onto ``base`` (default: the recipe's or the first
    adapter's base model)."""
    from hubcli.evaluate.targets import stitched_runnable
    from hubcli.plugin_api import HubcliError
    from hubcli.services.stitching import checked, resolve_spec, stitch_model

    tree, recipe_base = resolve_spec(registry, target)
    validated = checked(registry, tree)
    names = list(dict.fromkeys(validated.adapters()))
    base = base or recipe_base or next((b for n in names if (b := registry.get_adapter(n).base_model)), None)
    if base is None:
        raise HubcliError(f"{target!r}: no base model recorded; pass --base")
    stitched, loaded = stitch_model(registry, base, validated.root, dtype=dtype, device=device)
    peft_task = next((t for item in loaded if (t := item.raw_config.get("task_type"))), None)
    return stitched_runnable(registry, stitched, validated, base, peft_task)

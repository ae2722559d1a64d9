"""``evaluate_target``: everything ``hubcli eval`` does between parsing its options and printing,
usable from Python (the demo and the training command call it too)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.errors import HubcliError
from hubcli.evaluate import data as datasets
from hubcli.evaluate import metrics
from hubcli.evaluate.runner import BranchScores, evaluation_rows, score
from hubcli.evaluate.targets import BARE, bare_base, stitch_target
from hubcli.evaluate.tasks import TASKS, Task, TaskError, infer_task, label_names_of, resolve_fields

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model")


@dataclass
class EvalRequest:
    target: str
    dataset: str | datasets.Dataset
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


@dataclass
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


def load_tokenizer(base: str) -> Any:
    """The base model's tokenizer; decoders without a pad token pad with their end token."""
    from transformers import AutoTokenizer

    folder = Path(base)
    # transformers 5 builds an empty-vocabulary tokenizer from config.json alone: refuse that.
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise HubcliError(f"no tokenizer files in {base} (e.g. tokenizer.json): evaluation needs text input")
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as exc:
        raise HubcliError(f"no tokenizer for {base!r}: {str(exc).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def evaluate_target(
    registry: Any,
    request: EvalRequest,
    *,
    on_start: Callable[[int], None] = lambda _: None,
    on_batch: Callable[[int], None] = lambda _: None,
    store: bool = True,
) -> EvalResult:
    """Evaluate ``request.target`` on ``request.dataset``; store one row per metric per branch
    (unless ``store`` is false) and return the scores."""
    if request.task is not None and request.task not in TASKS:
        raise TaskError(f"unknown task {request.task!r} (choose {', '.join(TASKS)})")
    if isinstance(request.dataset, datasets.Dataset):
        dataset = request.dataset
    else:
        dataset = datasets.load(request.dataset, request.split)
    rows = dataset.rows[: request.limit] if request.limit else dataset.rows
    if request.target == BARE:
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
    on_start(len(rows))
    scores = score(runnable.run, tasks, rows, request.batch_size, on_batch)
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

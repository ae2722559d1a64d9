"""``train_adapter``: everything ``hubcli train`` does, from a dataset to a registered adapter
with its scores stored.

The new adapter starts as a blueprint folder (``hubcli.train.blueprints``), is attached to the
frozen base through the engine like any registry adapter, trained (``hubcli.train.loop``),
written back in its own format and registered with ``hubcli.importer.import_adapter`` — the
same validation every imported adapter passes. Its final scores come from ``hubcli eval``'s
pipeline run on the *registered* adapter, so they are what anyone re-running eval will get.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hubcli.engine.loading import load_tokenizer
from hubcli.evaluate import data as datasets
from hubcli.evaluate.tasks import (
    PEFT_TASK,
    TASKS,
    Task,
    TaskError,
    infer_task,
    label_names_of,
    resolve_fields,
)
from hubcli.plugin_api import HubcliError
from hubcli.services.evaluating import EvalRequest, EvalResult, evaluate
from hubcli.train import blueprints
from hubcli.train.loop import History, LoopSettings, fit
from hubcli.train.parameters import match

EVAL_SPLITS = ("validation", "test", "dev")
HOLDOUT = 0.1


@dataclass
class TrainRequest:
    architecture: str
    base: str
    dataset: str
    name: str
    task: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    settings: LoopSettings = field(default_factory=LoopSettings)
    split: str | None = None
    """Training rows: this value of the file's ``split`` column (default ``train``)."""
    eval_split: str | None = None
    """Evaluation rows (default: ``validation``/``test``/``dev`` if present, else a 10 % holdout)."""
    text_field: str | None = None
    text_pair_field: str | None = None
    label_field: str | None = None
    device: str = "cpu"
    max_length: int = 128
    tags: tuple[str, ...] = ()


@dataclass
class TrainResult:
    name: str
    architecture: str
    history: History
    final: EvalResult
    parameters: int
    model: Any = field(default=None, repr=False)
    """The trained ``StitchedModel`` in memory (the registered copy is what ``eval`` loads)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "architecture": self.architecture,
            "trained_parameters": self.parameters,
            "steps": self.history.steps,
            "stopped_early": self.history.stopped_early,
            "best": self.history.best,
            "evaluations": self.history.evaluations,
            "final": self.final.as_dict(),
        }


def split_rows(
    source: str, split: str | None, eval_split: str | None, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(training rows, evaluation rows): the named splits of a folder or Hub dataset; by the
    file's ``split`` column when it has one; else a seeded 10 % holdout."""
    if not datasets.is_local_file(source):
        train = datasets.load(source, split or "train")
        for name in [eval_split] if eval_split else EVAL_SPLITS:
            try:
                return train, datasets.load(source, name)
            except datasets.DatasetError:
                continue
        raise HubcliError(f"{source}: no evaluation split ({', '.join(EVAL_SPLITS)}); pass --eval-split")
    whole = datasets.load(source)
    if datasets.SPLIT_COLUMN in whole.rows[0] or split or eval_split:
        train = datasets.load(source, split or "train")
        present = {row.get(datasets.SPLIT_COLUMN) for row in whole.rows}
        chosen = eval_split or next((name for name in EVAL_SPLITS if name in present), None)
        if chosen is None:
            raise HubcliError(
                f"{source}: no evaluation split (none of {', '.join(EVAL_SPLITS)}); pass --eval-split"
            )
        return train, datasets.load(source, chosen)
    rows = list(whole.rows)
    random.Random(seed).shuffle(rows)
    held = max(1, int(len(rows) * HOLDOUT))
    label = f"holdout-{seed}"
    make = datasets.Dataset
    return (
        make(whole.name, f"train-{seed}", rows[held:], whole.source_digest, whole.label_names),
        make(whole.name, label, rows[:held], whole.source_digest, whole.label_names),
    )


def train_adapter(
    registry: Any,
    request: TrainRequest,
    *,
    on_start: Callable[[int], None] = lambda _: None,
    on_step: Callable[[float], None] = lambda _: None,
    on_eval: Callable[[dict[str, Any]], None] = lambda _: None,
) -> TrainResult:
    from hubcli.engine import StitchedModel, load_base_model
    from hubcli.importer import check_name, detect, import_adapter
    from hubcli.plugin_api import AdapterFolder, LoadedAdapter
    from registry.errors import AdapterNotFound

    check_name(request.name)
    try:
        registry.get_adapter(request.name)
    except AdapterNotFound:
        pass
    else:
        raise HubcliError(f"an adapter named {request.name!r} is already registered; choose another --name")
    if request.task is not None and request.task not in TASKS:
        raise TaskError(f"unknown task {request.task!r} (choose {', '.join(TASKS)})")
    settings = request.settings
    train_data, eval_data = split_rows(request.dataset, request.split, request.eval_split, settings.seed)
    task_name = request.task or infer_task(None, train_data.rows, request.label_field)
    fields = resolve_fields(
        task_name, train_data.rows[0], request.text_field, request.text_pair_field, request.label_field
    )
    token_level = task_name == "token-classification"
    labels = (
        []
        if fields.label is None or task_name == "regression"
        else label_names_of(train_data, fields, token_level)
    )

    torch.manual_seed(settings.seed)
    peft_task = PEFT_TASK[task_name] if blueprints.needs_task_model(request.architecture) else None
    stitched = StitchedModel(load_base_model(request.base, task=peft_task, device=request.device))
    fresh = blueprints.blueprint(
        request.architecture, stitched, task_name, labels, request.base, request.options, request.name
    )
    probe = blueprints.probe_copy(fresh, torch.Generator().manual_seed(settings.seed))
    with tempfile.TemporaryDirectory(prefix="hubcli-train-") as scratch:
        found = detect(AdapterFolder(probe.write(Path(scratch) / "probe")))
    stitched.attach(
        LoadedAdapter(
            request.name,
            found.architecture,
            found.format,
            found.config,
            probe.config,
            probe.tensors,
            probe.head_tensors,
            probe.head_config,
        )
    )
    stitched.activate(request.name)
    stitched.model.requires_grad_(False)
    trainable = match(stitched, request.name, probe.all_tensors())
    trainable.load(fresh.all_tensors())
    for parameter in trainable.parameters.values():
        parameter.requires_grad_(True)

    tokenizer = load_tokenizer(request.base)
    task = Task(task_name, tokenizer, fields, labels, train_data.label_names, request.max_length)
    if labels:
        task.use_labels(sorted({*labels, *label_names_of(eval_data, fields, token_level)}))
    per_epoch = -(-len(train_data.rows) // settings.batch_size)
    on_start(min(per_epoch * settings.epochs, settings.max_steps or per_epoch * settings.epochs))
    history = fit(stitched, trainable, task, train_data.rows, eval_data.rows, settings, on_step, on_eval)

    trained = trainable.state()
    fresh.tensors = {key: trained[key] for key in fresh.tensors}
    fresh.head_tensors = {key: trained[key] for key in fresh.head_tensors}
    count = sum(t.numel() for t in trained.values())
    description = (
        f"trained by hubcli train: {request.architecture} on {train_data.name} ({task_name}); "
        f"{history.steps} steps, lr {settings.learning_rate}, batch {settings.batch_size}, seed {settings.seed}"
        + (", stopped early" if history.stopped_early else "")
    )
    with tempfile.TemporaryDirectory(prefix="hubcli-train-") as scratch:
        folder = fresh.write(Path(scratch) / request.name)
        import_adapter(
            registry,
            AdapterFolder(folder),
            name=request.name,
            base_model=request.base,
            source_kind="train",
            source=f"hubcli train {train_data.name}",
            tags=("trained", task_name, *request.tags),
            description=description,
            labels=labels or None,
            model_type=stitched.model.config.model_type,
        )
    final = evaluate(
        registry,
        EvalRequest(
            target=request.name,
            dataset=eval_data,
            task=task_name,
            text_field=fields.text,
            text_pair_field=fields.pair,
            label_field=fields.label,
            batch_size=settings.batch_size,
            device=request.device,
            base=request.base,
            max_length=request.max_length,
            extra={"after_training": True, "steps": history.steps},
        ),
    )
    return TrainResult(request.name, request.architecture, history, final, count, stitched)

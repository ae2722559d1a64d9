"""Training: from a dataset to a registered adapter (``hubcli train --arch``) or fusion
(``hubcli train --fuse a,b,c``, ``hubcli.train.fusion``), with its scores stored.

The new adapter starts as a blueprint folder (``hubcli.train.blueprints``), is attached to the
frozen base through the engine like any registry adapter, trained (``hubcli.train.loop``),
written back in its own format and registered with ``hubcli.importer.import_adapter`` — the
same validation every imported adapter passes. Its final scores come from the evaluating
service run on the *registered* adapter, so they are what anyone re-running eval will get.
torch and transformers are imported inside the functions only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from hubcli.services.evaluating import EvalResult
    from hubcli.train.fusion import FusionTrainResult
    from hubcli.train.loop import History, LoopSettings
    from registry import Registry

TRAINING = "training"
"""The stage of the progress events that count optimiser steps (``detail``: the last loss)."""
EVALUATED = "evaluated"
"""The stage of the event after each evaluation during training (``detail``: where, scores)."""


def _default_settings() -> LoopSettings:
    from hubcli.train.loop import LoopSettings

    return LoopSettings()


@dataclass(frozen=True)
class TrainRequest:
    architecture: str
    base: str
    dataset: str
    name: str
    task: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    settings: LoopSettings = field(default_factory=_default_settings)
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
    fuse: tuple[str, ...] | None = None
    """Adapters to train a fusion over instead of a new adapter (``architecture`` and
    ``options`` then unused)."""


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


def train(
    registry: Registry, request: TrainRequest, progress: ProgressCallback = ignore_progress
) -> TrainResult | FusionTrainResult:
    """Train what the request asks for: a new adapter, or with ``fuse`` a fusion over those."""
    if request.fuse is None:
        return train_adapter(registry, request, progress)
    from hubcli.train.fusion import train_fusion_entry

    on_start, on_step, on_eval = _progress_callbacks(progress)
    return train_fusion_entry(
        registry, request, list(request.fuse), on_start=on_start, on_step=on_step, on_eval=on_eval
    )


def _progress_callbacks(
    progress: ProgressCallback,
) -> tuple[Callable[[int], None], Callable[[float], None], Callable[[dict[str, Any]], None]]:
    """(on_start, on_step, on_eval) of the training loop as ``Progress`` events: steps counted
    with the last loss, one event per evaluation with its first two scores."""
    count = {"done": 0, "total": 0}

    def on_start(total: int) -> None:
        count["total"] = total
        progress(Progress(TRAINING, 0, total))

    def on_step(loss: float) -> None:
        count["done"] += 1
        progress(Progress(TRAINING, count["done"], count["total"], f"loss {loss:.4f}"))

    def on_eval(entry: dict[str, Any]) -> None:
        shown = "  ".join(f"{k} {v:.3f}" for k, v in list(entry["scores"].items())[:2])
        where = f"step {entry['step']}" if "step" in entry else f"epoch {entry['epoch']}"
        progress(Progress(EVALUATED, count["done"], count["total"], f"{where}: {shown}"))

    return on_start, on_step, on_eval


def train_adapter(
    registry: Registry, request: TrainRequest, progress: ProgressCallback = ignore_progress
) -> TrainResult:
    """Train a new adapter of ``request.architecture`` and register it with its scores."""
    import torch

    from hubcli.engine import StitchedModel, load_base_model
    from hubcli.engine.loading import load_tokenizer
    from hubcli.evaluate.tasks import (
        PEFT_TASK,
        TASKS,
        Task,
        TaskError,
        infer_task,
        label_names_of,
        resolve_fields,
    )
    from hubcli.importer import check_new_name, detect, import_adapter
    from hubcli.plugin_api import AdapterFolder, LoadedAdapter
    from hubcli.services.evaluating import EvalRequest, evaluate
    from hubcli.train import blueprints
    from hubcli.train.loop import fit
    from hubcli.train.parameters import match
    from hubcli.train.splits import split_rows

    on_start, on_step, on_eval = _progress_callbacks(progress)

    check_new_name(registry, request.name)
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
            model_type=str(getattr(stitched.model.config, "model_type", "")) or None,
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

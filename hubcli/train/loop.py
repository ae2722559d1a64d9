"""The optimisation loop: AdamW on the adapter's tensors only, periodic evaluation on held-out
rows, early stopping on the task's main metric, and the best weights restored at the end."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hubcli.evaluate.runner import batches
from hubcli.evaluate.tasks import Task
from hubcli.train.parameters import TrainableTensors

MAIN_METRIC = {
    "classification": ("accuracy", 1),
    "pair-classification": ("accuracy", 1),
    "regression": ("pearson", 1),
    "token-classification": ("entity_f1", 1),
    "causal-lm": ("perplexity", -1),
}
"""Task → (metric that early stopping watches, +1 when higher is better, -1 when lower is)."""


@dataclass
class LoopSettings:
    epochs: int = 3
    learning_rate: float = 1e-3
    batch_size: int = 16
    eval_every: int | None = None
    """Steps between evaluations (None: once per epoch)."""
    patience: int | None = 3
    """Evaluations without improvement before stopping (None: never stop early)."""
    max_steps: int | None = None
    seed: int = 0


@dataclass
class History:
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    """``{"step": n, "scores": {...}}`` per evaluation."""
    best: dict[str, Any] | None = None
    stopped_early: bool = False


def task_logits(stitched: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits of the stitched model with gradients (``StitchedModel.forward`` runs without),
    token positions of prompt-tuning virtual tokens removed."""
    device = next(stitched.model.parameters()).device
    inputs = {key: value.to(device) for key, value in inputs.items()}
    logits = stitched.model(**inputs)["logits"]
    virtual = stitched.virtual_tokens()
    if virtual and logits.dim() == 3 and logits.shape[1] == inputs["input_ids"].shape[1] + virtual:
        logits = logits[:, virtual:]
    return logits


def measure(stitched: Any, task: Task, rows: Sequence[dict[str, Any]], batch_size: int) -> dict[str, float]:
    scorer = task.scorer()
    was_training = stitched.model.training
    stitched.model.eval()
    try:
        with torch.no_grad():
            for chunk in batches(rows, batch_size):
                inputs, targets = task.encode(chunk)
                scorer.add(task_logits(stitched, inputs), targets)
    finally:
        stitched.model.train(was_training)
    return scorer.scores()


def fit(
    stitched: Any,
    trainable: TrainableTensors,
    task: Task,
    train_rows: Sequence[dict[str, Any]],
    eval_rows: Sequence[dict[str, Any]],
    settings: LoopSettings,
    on_step: Callable[[float], None] = lambda _: None,
    on_eval: Callable[[dict[str, Any]], None] = lambda _: None,
) -> History:
    """Train ``trainable`` (every other parameter frozen) and return what happened; the best
    evaluated weights are in place afterwards."""
    torch.manual_seed(settings.seed)
    shuffle = random.Random(settings.seed)
    optimizer = torch.optim.AdamW(
        list(trainable.parameters.values()), lr=settings.learning_rate, weight_decay=0.0
    )
    metric, sign = MAIN_METRIC[task.name]
    per_epoch = max(1, -(-len(train_rows) // settings.batch_size))
    every = settings.eval_every or per_epoch
    history = History()
    best_state: dict[str, torch.Tensor] | None = None
    misses = 0

    def evaluate() -> bool:
        """Record an evaluation; True when training should stop (patience spent)."""
        nonlocal best_state, misses
        scores = measure(stitched, task, eval_rows, settings.batch_size)
        entry = {"step": history.steps, "scores": scores}
        history.evaluations.append(entry)
        on_eval(entry)
        if history.best is None or sign * scores[metric] > sign * history.best["scores"][metric]:
            history.best, best_state, misses = entry, trainable.state(), 0
            return False
        misses += 1
        return settings.patience is not None and misses >= settings.patience

    stitched.model.train()
    try:
        for _ in range(settings.epochs):
            if _train_epoch(
                stitched,
                trainable,
                task,
                train_rows,
                settings,
                shuffle,
                optimizer,
                every,
                history,
                on_step,
                evaluate,
            ):
                break
    finally:
        stitched.model.eval()
    if not history.evaluations or history.evaluations[-1]["step"] != history.steps:
        evaluate()
    if best_state is not None:
        trainable.load(best_state)
    return history


def _train_epoch(
    stitched: Any,
    trainable: TrainableTensors,
    task: Task,
    train_rows: Sequence[dict[str, Any]],
    settings: LoopSettings,
    shuffle: random.Random,
    optimizer: torch.optim.Optimizer,
    every: int,
    history: History,
    on_step: Callable[[float], None],
    evaluate: Callable[[], bool],
) -> bool:
    """One pass over the shuffled rows; True when training must stop (step budget reached or
    patience spent)."""
    order = list(train_rows)
    shuffle.shuffle(order)
    device = next(iter(trainable.parameters.values())).device
    for chunk in batches(order, settings.batch_size):
        inputs, targets = task.encode(chunk)
        loss = task.loss(task_logits(stitched, inputs), targets.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.steps += 1
        history.losses.append(float(loss.detach()))
        on_step(history.losses[-1])
        budget_spent = settings.max_steps is not None and history.steps >= settings.max_steps
        if (history.steps % every == 0 or budget_spent) and evaluate():
            history.stopped_early = True
            return True
        if budget_spent:
            return True
    return False

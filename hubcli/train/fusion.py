"""``train_fusion_entry``: what ``hubcli train --fuse a,b,c`` does, from a dataset to a registered
fusion (architecture ``fusion``) with its scores stored.

The fused adapters come from the registry and stay frozen, as does the base; only the fusion
layers and the fusion's own classification head learn (AdapterFusion's second stage; a fusion's
head is its own, as in ``adapters``, so it needs one, and the children's heads are not used).
Training is the fuse block's ``train_owned`` (with ``adapters``' value regularisation), one epoch
at a time with an evaluation after each and the best epoch kept. The result is saved with
the block's ``save_owned`` and registered through ``import_adapter``, the same validation every
imported fusion passes; the final scores come from ``hubcli eval`` on
``fuse(a, b, c, fusion=NAME)``, so they are what anyone re-running eval gets.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hubcli import discovery
from hubcli.engine.loading import load_tokenizer
from hubcli.evaluate.runner import batches
from hubcli.evaluate.tasks import Task, infer_task, label_names_of, resolve_fields
from hubcli.plugin_api import HubcliError
from hubcli.services.evaluating import EvalRequest, EvalResult, evaluate
from hubcli.services.training import TrainRequest
from hubcli.train.loop import MAIN_METRIC, measure
from hubcli.train.splits import split_rows

FUSION_TASKS = ("classification", "pair-classification")
"""The fusion's own head is an AdapterHub classification head, which the engine runs."""


@dataclass
class FusionTrainResult:
    name: str
    spec: str
    untrained: dict[str, float]
    """Scores of the freshly initialised fusion (and head) on the evaluation rows."""
    evaluations: list[dict[str, Any]]
    final: EvalResult
    parameters: int
    model: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "architecture": "fusion",
            "spec": self.spec,
            "trained_parameters": self.parameters,
            "untrained": self.untrained,
            "evaluations": self.evaluations,
            "final": self.final.as_dict(),
        }


def train_fusion_entry(
    registry: Any,
    request: TrainRequest,
    fused: Sequence[str],
    *,
    on_start: Callable[[int], None] = lambda _: None,
    on_step: Callable[[float], None] = lambda _: None,
    on_eval: Callable[[dict[str, Any]], None] = lambda _: None,
) -> FusionTrainResult:
    """Train ``fuse(*fused)`` with a head of its own on ``request``'s dataset and register it as
    ``request.name``; ``request.architecture`` and ``options`` are not used. ``on_start`` gets
    the number of steps before the first, ``on_step`` each step's loss as it ends."""
    from hubcli.compose.setup import activate
    from hubcli.compose.spec import AdapterRef, Block
    from hubcli.compose.text import format_spec
    from hubcli.engine import StitchedModel, load_base_model, read_adapter
    from hubcli.importer import check_new_name, import_adapter
    from hubcli.plugin_api import AdapterFolder

    check_new_name(registry, request.name)
    settings = request.settings
    train_data, eval_data = split_rows(request.dataset, request.split, request.eval_split, settings.seed)
    task_name = request.task or infer_task(None, train_data.rows, request.label_field)
    if task_name not in FUSION_TASKS:
        raise HubcliError(f"--fuse trains a classification head of the fusion's own: not for {task_name}")
    fields = resolve_fields(
        task_name, train_data.rows[0], request.text_field, request.text_pair_field, request.label_field
    )
    labels = label_names_of(train_data, fields, False)

    torch.manual_seed(settings.seed)
    stitched = StitchedModel(load_base_model(request.base, device=request.device))
    for name in fused:
        stitched.attach(read_adapter(registry, name))
    tree = Block("fuse", tuple(AdapterRef(name) for name in fused))
    setup = activate(stitched, tree)
    block = discovery.composition("fuse")  # the block through its contract, found by its name
    layers = setup.owned[id(tree)]
    block.add_head(
        layers,
        {
            "head_type": "classification",
            "num_labels": len(labels),
            "layers": 2,
            "activation_function": "tanh",
            "label2id": {label: i for i, label in enumerate(labels)},
            "use_pooler": False,
            "bias": True,
            "dropout_prob": None,
        },
    )
    stitched.model.requires_grad_(False)
    if stitched.task_heads is None or not len(stitched.task_heads.copies):
        # the engine computes sequence logits (and so runs the fusion's head) where an adapter
        # with an AdapterHub head is active, as every bottleneck ``hubcli train`` makes carries
        raise HubcliError(
            f"--fuse {','.join(fused)}: none of these adapters has an AdapterHub classification head"
        )

    task = Task(
        task_name, load_tokenizer(request.base), fields, labels, train_data.label_names, request.max_length
    )
    task.use_labels(sorted({*labels, *label_names_of(eval_data, fields, False)}))
    metric, sign = MAIN_METRIC[task_name]
    untrained = measure(stitched, task, eval_data.rows, settings.batch_size)
    best, best_state, evaluations = untrained, _state(layers), []
    rows = list(train_data.rows)
    on_start(settings.epochs * math.ceil(len(rows) / settings.batch_size))
    for epoch in range(settings.epochs):
        random.Random(settings.seed + epoch).shuffle(rows)
        encoded = [task.encode(chunk) for chunk in batches(rows, settings.batch_size)]
        targets = {id(inputs): target for inputs, target in encoded}
        block.train_owned(
            layers,
            stitched.model,
            [inputs for inputs, _ in encoded],
            lambda output, inputs, targets=targets: task.loss(output["logits"], targets[id(inputs)]),
            learning_rate=settings.learning_rate,
            on_step=on_step,
        )
        scores = measure(stitched, task, eval_data.rows, settings.batch_size)
        evaluations.append({"epoch": epoch + 1, "scores": scores})
        on_eval(evaluations[-1])
        if sign * scores[metric] > sign * best[metric]:
            best, best_state = scores, _state(layers)
    layers.load_state_dict(best_state)

    spec = format_spec(Block("fuse", tree.children, {"fusion": request.name}))
    with tempfile.TemporaryDirectory(prefix="hubcli-train-") as scratch:
        folder = Path(scratch) / request.name
        block.save_owned(layers, folder)
        import_adapter(
            registry,
            AdapterFolder(folder),
            name=request.name,
            base_model=request.base,
            source_kind="train",
            source=f"hubcli train --fuse {train_data.name}",
            tags=("trained", task_name, *request.tags),
            description=f"trained by hubcli train --fuse {','.join(fused)} on {train_data.name} ({task_name}); "
            f"{settings.epochs} epochs, lr {settings.learning_rate}, seed {settings.seed}",
        )
    final = evaluate(
        registry,
        EvalRequest(
            target=spec,
            dataset=eval_data,
            task=task_name,
            text_field=fields.text,
            text_pair_field=fields.pair,
            label_field=fields.label,
            batch_size=settings.batch_size,
            device=request.device,
            base=request.base,
            max_length=request.max_length,
            extra={"after_training": True},
        ),
    )
    count = sum(p.numel() for p in layers.parameters())
    return FusionTrainResult(request.name, spec, untrained, evaluations, final, count, stitched)


def _state(layers: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in layers.state_dict().items()}

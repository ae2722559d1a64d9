"""From a TARGET to a runnable model: an adapter name, a composition spec or a saved recipe
(stitched by ``hubcli.services.evaluating`` through the stitching service, so eval runs exactly
what ``hubcli stitch`` and ``predict`` run), or ``-`` for the bare base model.

A parallel composition yields one output per child: each child is a *branch* and gets its own
scores. Every branch knows its head's label names, for the by-name label matching of
``hubcli.evaluate.tasks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from hubcli.plugin_api import HubcliError

if TYPE_CHECKING:
    from hubcli.compose.validate import Validated
    from hubcli.engine import StitchedModel
    from registry import Registry

BARE = "-"
"""The TARGET that means the base model alone (with an untrained head where the task needs one)."""


@dataclass(frozen=True)
class Branch:
    """One scored output: the whole target, or one child of a parallel block."""

    name: str | None
    """The child's spec text (None when the target has a single output)."""
    adapter_id: int | None
    """The registry id when the branch is one adapter (its scores then show in ``hubcli show``)."""
    labels: list[str]


@dataclass
class Runnable:
    """A model ready for evaluation and how to read one logits tensor per branch."""

    base: str
    run: Callable[[dict[str, torch.Tensor]], list[torch.Tensor]]
    branches: list[Branch]
    peft_task: str | None


def _head_size(stitched: Any, name: str) -> int | None:
    """Output count of adapter ``name``'s own head (its last linear layer), if it has one."""
    heads = [head.copies[name] for head in stitched.heads.values() if name in head.copies]
    if stitched.task_heads is not None and name in stitched.task_heads.copies:
        heads.append(stitched.task_heads.copies[name])
    linears = [m for head in heads for m in head.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def _labels_for(stitched: Any, registry: Any, names: list[str]) -> list[str]:
    """The label names of the first adapter in ``names`` that has a head: its registry labels,
    else the model config's ``id2label`` when the sizes agree, else ``LABEL_i``."""
    config = stitched.model.config
    id2label = getattr(config, "id2label", None) or {}
    for name in names:
        adapter = registry.get_adapter(name)
        if adapter.labels:
            return list(adapter.labels)
        size = _head_size(stitched, name)
        if size is not None:
            if len(id2label) == size:
                return [str(id2label[i]) for i in range(size)]
            return [f"LABEL_{i}" for i in range(size)]
    return [str(id2label[i]) for i in range(len(id2label))]


def stitched_runnable(
    registry: Registry, stitched: StitchedModel, validated: Validated, base: str, peft_task: str | None
) -> Runnable:
    """How to run a stitched TARGET: one branch for the whole model, or one per child of the
    block that replicates the batch (a parallel block)."""
    from hubcli.compose.setup import CompositionSetup, outputs_per_child
    from hubcli.compose.spec import AdapterRef
    from hubcli.compose.text import format_spec

    names = list(dict.fromkeys(validated.adapters()))
    setup = stitched.setup
    replicas = setup.replicas() if isinstance(setup, CompositionSetup) else 1

    def single_id(node: Any) -> int | None:
        return registry.get_adapter(node.name).id if isinstance(node, AdapterRef) else None

    device_of_model = next(stitched.model.parameters()).device

    def on_device(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every input on the model's device (``StitchedModel.forward`` moves only the ids and
        the mask; BERT's token_type_ids come along here)."""
        return {key: value.to(device_of_model) for key, value in inputs.items()}

    if replicas == 1:
        branches = [Branch(None, single_id(validated.root), _labels_for(stitched, registry, names))]

        def run(inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
            return [stitched.forward(**on_device(inputs))["logits"]]
    else:
        block = next(b for b in setup.spec.blocks() if setup.spec.plugin(b).replicates_batch)
        branches = [
            Branch(
                format_spec(child), single_id(child), _labels_for(stitched, registry, list(child.adapters()))
            )
            for child in block.children
        ]

        def run(inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
            return [
                part["logits"] for part in outputs_per_child(stitched.forward(**on_device(inputs)), setup)
            ]

    return Runnable(base, run, branches, peft_task)


AUTO_CLASS = {
    "classification": "AutoModelForSequenceClassification",
    "pair-classification": "AutoModelForSequenceClassification",
    "regression": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "causal-lm": "AutoModelForCausalLM",
}


def bare_base(base: str | None, task: str, labels: list[str], *, dtype: str, device: str) -> Runnable:
    """The base model alone. Where the task needs a head the base lacks, it gets a freshly
    initialised one (seed 0) over the dataset's labels: the chance-level reference that the
    adapters are measured against."""
    import transformers

    from hubcli.engine.loading import torch_dtype

    if base is None:
        raise HubcliError("the bare base model (TARGET '-') needs --base")
    auto = getattr(transformers, AUTO_CLASS[task])
    extra: dict[str, Any] = {}
    if task != "causal-lm":
        size = 1 if task == "regression" else len(labels)
        extra = {
            "num_labels": size,
            "id2label": dict(enumerate(labels[:size] or ["score"])),
            "ignore_mismatched_sizes": True,
        }
    torch.manual_seed(0)
    try:
        model = auto.from_pretrained(base, dtype=torch_dtype(dtype), **extra)
    except OSError as exc:
        raise HubcliError(f"cannot load base model {base!r}: {str(exc).splitlines()[0]}") from None
    model = model.to(device).eval()

    @torch.inference_mode()
    def run(inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [model(**{k: v.to(device) for k, v in inputs.items()}).logits]

    return Runnable(base, run, [Branch(None, None, labels)], None)

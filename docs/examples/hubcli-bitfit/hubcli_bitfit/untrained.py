"""A new BitFit adapter to train (``ArchitecturePlugin.untrained``): zero deltas on the biases
of the targeted projections and, for a classification task, a new head with one output per
label (the paper trains the classifier with the biases)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from hubcli.plugin_api import AttachTarget, HubcliError, UntrainedAdapter
from torch import nn

from hubcli_bitfit.config import METHOD, WEIGHTS_FILE, BitFitConfig, BitFitFile
from hubcli_bitfit.layer import is_projection

OPTIONS = ("targets",)
HEAD_TASKS = ("SEQ_CLS", "TOKEN_CLS")
STD = 0.02


def _projections_with_bias(target: AttachTarget) -> dict[str, nn.Module]:
    """Full-model path → projection, for every Linear / Conv1D with a bias inside a layer."""
    layers = tuple(path + "." for path in target.layer_paths())
    return {
        path: module
        for path, module in target.model.named_modules()
        if path.startswith(layers) and is_projection(module) and module.bias is not None
    }


def _default_targets(target: AttachTarget, projections: Mapping[str, nn.Module]) -> list[str]:
    """Every projection with a bias: their paths inside one layer (``attention.self.query``)."""
    first = target.layer_paths()[0] + "."
    return [path[len(first) :] for path in projections if path.startswith(first)]


def _new_head(target: AttachTarget, labels: Sequence[str]) -> tuple[list[str], dict[str, torch.Tensor]]:
    """The model's task-head modules, copied, with the label-sized layer re-initialised for
    ``labels`` (N(0, 0.02) weights, zero bias)."""
    model = target.model
    modules = [
        name for name in target.family.points.heads if isinstance(getattr(model, name, None), nn.Module)
    ]
    outputs = model.config.num_labels
    tensors: dict[str, torch.Tensor] = {}
    for module in modules:
        for name, parameter in model.get_submodule(module).named_parameters():
            value = parameter.detach().float().clone()
            if parameter.shape[0] == outputs:
                shape = (len(labels), *parameter.shape[1:])
                value = torch.randn(shape) * STD if parameter.dim() > 1 else torch.zeros(shape)
            tensors[f"{module}.{name}"] = value
    return modules, tensors


def untrained(
    target: AttachTarget, options: Mapping[str, str], task_type: str | None, labels: Sequence[str]
) -> UntrainedAdapter:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise HubcliError(f"bitfit: unknown option {unknown[0]!r} (allowed: {', '.join(OPTIONS)})")
    projections = _projections_with_bias(target)
    if "targets" in options:
        targets = [name.strip() for name in options["targets"].split(",") if name.strip()]
    else:
        targets = _default_targets(target, projections)
    if not targets:
        raise HubcliError("bitfit: the option targets names no module (e.g. targets=query,value)")
    config = BitFitConfig(targets=targets)
    deltas = {
        f"{path}.bias": torch.zeros(module.bias.shape)
        for path, module in projections.items()
        if config.targets_module(path)
    }
    if not deltas:
        model_type = target.model.config.model_type
        raise HubcliError(
            f"bitfit: targets {targets} match no projection with a bias in this {model_type} model"
        )
    modules, head = _new_head(target, labels) if task_type in HEAD_TASKS and labels else ([], {})
    saved = BitFitFile(
        method=METHOD,
        targets=targets,
        modules_to_save=modules,
        model_type=target.model.config.model_type,
        task_type=task_type,
    )
    return UntrainedAdapter(saved.model_dump(mode="json"), WEIGHTS_FILE, {**deltas, **head})

"""Training fusion layers: the entry point the train command uses.

Only the fusion parameters learn; the base model and the fused adapters stay frozen, as in
AdapterFusion's second stage. Dynamic fusion adds ``adapters``' regularisation that keeps the
value matrices near the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from hubcli.plugin_api import ActiveComposition
from plugins.compositions.fuse.layer import FusionLayers


def train_fusion(
    model: torch.nn.Module,
    setup: ActiveComposition,
    batches: Iterable[Mapping[str, torch.Tensor]],
    loss: Callable[[Any, Mapping[str, torch.Tensor]], torch.Tensor],
    *,
    learning_rate: float = 1e-4,
    epochs: int = 1,
    on_step: Callable[[float], None] = lambda _: None,
) -> list[float]:
    """Train the fusion layers of ``setup`` (active on ``model``) on ``batches`` (keyword
    inputs of the model), minimising ``loss(output, batch)``; returns the loss of every step,
    also handed to ``on_step`` as each step ends (for progress bars).

    ``batches`` is iterated once per epoch (pass a list for several epochs)."""
    fusions = [owned for owned in setup.owned.values() if isinstance(owned, FusionLayers)]
    return train_layers(
        model, fusions, batches, loss, learning_rate=learning_rate, epochs=epochs, on_step=on_step
    )


def train_layers(
    model: torch.nn.Module,
    fusions: list[FusionLayers],
    batches: Iterable[Mapping[str, torch.Tensor]],
    loss: Callable[[Any, Mapping[str, torch.Tensor]], torch.Tensor],
    *,
    learning_rate: float,
    epochs: int = 1,
    on_step: Callable[[float], None] | None = None,
) -> list[float]:
    """``train_fusion`` for the given fusion layers (``FuseBlock.train_owned`` hands its own)."""
    parameters = [p for layers in fusions for p in layers.parameters()]
    if not parameters:
        raise ValueError("the active composition has no fuse block to train")
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
    was_training = model.training
    model.train()
    losses = []
    try:
        for _ in range(epochs):
            for batch in batches:
                optimizer.zero_grad()
                value = loss(model(**batch), batch)
                penalties = [
                    p
                    for layers in fusions
                    for layer in layers.layers.values()
                    if (p := layer.regularization()) is not None
                ]
                total = value + sum(penalties) if penalties else value
                total.backward()
                optimizer.step()
                losses.append(float(value.detach()))
                if on_step is not None:
                    on_step(losses[-1])
    finally:
        model.train(was_training)
    return losses

"""Layer-by-layer linear CKA between two models' hidden states over the same inputs.

Each model runs with ``output_hidden_states=True``; hidden state h is the embeddings' output
for h = 0 and the output of transformer layer h (1-based) after that. One example is either a
sequence (its hidden states averaged over non-padding tokens, ``pool="mean"``) or every
non-padding token (``pool="tokens"``). The minibatch estimator keeps memory at one batch's Gram
matrices, whatever the dataset's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hubcli.analysis.cka import MinibatchCka
from hubcli.plugin_api import HubcliError

POOLS = ("mean", "tokens")


@dataclass
class LayerCka:
    """CKA between hidden state ``layers_a[i]`` of model A and ``layers_b[j]`` of model B."""

    layers_a: list[int]
    layers_b: list[int]
    matrix: torch.Tensor
    examples: int
    batches: int

    def diagonal(self) -> dict[int, float]:
        """CKA between the same depth in both models (similarity by depth)."""
        index_b = {layer: j for j, layer in enumerate(self.layers_b)}
        return {
            layer: float(self.matrix[i, index_b[layer]])
            for i, layer in enumerate(self.layers_a)
            if layer in index_b
        }


def layer_label(index: int) -> str:
    return "emb" if index == 0 else f"L{index}"


def hidden_states(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> list[torch.Tensor]:
    """Every hidden state [batch, tokens, hidden] of one forward pass."""
    with torch.inference_mode():
        output = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    states = getattr(output, "hidden_states", None)
    if states is None:
        raise HubcliError(f"{type(model).__name__} returns no hidden states")
    return list(states)


def pooled(states: Sequence[torch.Tensor], attention_mask: torch.Tensor, pool: str) -> list[torch.Tensor]:
    """Examples × features per hidden state: sequence means or the non-padding tokens."""
    mask = attention_mask.bool()
    if pool == "tokens":
        return [state[mask] for state in states]
    weights = attention_mask.to(states[0].dtype).unsqueeze(-1)
    return [(state * weights).sum(1) / weights.sum(1).clamp_min(1) for state in states]


def layerwise_cka(
    model_a: nn.Module,
    model_b: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    layers: Sequence[int] | None = None,
    pool: str = "mean",
    on_batch: Callable[[int], None] | None = None,
) -> LayerCka:
    """CKA between every chosen hidden state of ``model_a`` and every one of ``model_b``
    (``layers`` None: all of them); ``on_batch`` is called with each batch's size."""
    if pool not in POOLS:
        raise HubcliError(f"unknown pooling {pool!r} (choose {', '.join(POOLS)})")
    accumulator = MinibatchCka()
    chosen: dict[str, list[int]] = {}
    for input_ids, attention_mask in batches:
        sides = []
        for side, model in (("A", model_a), ("B", model_b)):
            states = hidden_states(model, input_ids, attention_mask)
            if side not in chosen:
                chosen[side] = _check_layers(layers, len(states), side)
            sides.append(pooled([states[i] for i in chosen[side]], attention_mask, pool))
        accumulator.update(sides[0], sides[1])
        if on_batch:
            on_batch(input_ids.shape[0])
    matrix = accumulator.result()
    return LayerCka(chosen["A"], chosen["B"], matrix, accumulator.examples, accumulator.batches)


def _check_layers(layers: Sequence[int] | None, count: int, side: str) -> list[int]:
    if layers is None:
        return list(range(count))
    wrong = [i for i in layers if not 0 <= i < count]
    if wrong:
        raise HubcliError(f"model {side} has hidden states 0..{count - 1}; no {', '.join(map(str, wrong))}")
    return list(layers)

"""The non-linearities AdapterHub configs name (bottleneck ``non_linearity``, head
``activation_function``), built as ``adapters`` builds them: transformers' activation table,
plus ``leakyrelu``, which that table lacks."""

from __future__ import annotations

from torch import nn


def activation(name: str) -> nn.Module:
    if name.lower() == "leakyrelu":
        return nn.LeakyReLU()
    from transformers.activations import get_activation

    return get_activation(name.lower())

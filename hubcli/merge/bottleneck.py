"""Averaging bottleneck adapters' parameters (AdapterHub layout), an approximation.

A bottleneck adapter computes h + f(h·W_down + b_down)·W_up + b_up with a non-linearity f, so
the adapter with averaged parameters is *not* the average of the adapters' outputs (that is the
``average`` composition block). Parameter averaging is still what the ``adapters`` library's
``average_adapter()`` does for bottleneck adapters, and works best for adapters fine-tuned from
a shared starting point. Only linear merging is offered: task arithmetic, TIES and DARE treat
parameters as deltas from a shared base, which a bottleneck's down projection is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from hubcli.merge.merged import MergedAdapter, refuse_head_files, same_layout
from hubcli.merge.spec import MergeError, MergeSpec
from hubcli.merge.task_vectors import weighted_sum
from hubcli.plugin_api import LoadedAdapter

KEY = re.compile(r"^(?P<location>.+)\.adapters\.(?P<name>[^.]+)\.(?P<param>.+)$")
"""``<layer path>.<location>.adapters.<adapter name>.<parameter>`` (AdapterHub naming)."""
WEIGHTS_FILE = "adapter.safetensors"
NAME_SLOT = "{name}"


def parameters_of(adapter: LoadedAdapter) -> dict[str, torch.Tensor]:
    """Parameters keyed with the adapter's own name replaced by ``{name}``, so that the same
    parameter of differently named adapters gets the same key."""
    refuse_head_files(adapter)
    found = {}
    for key, tensor in adapter.tensors.items():
        match = KEY.match(key)
        if match is None:
            raise MergeError(f"adapter {adapter.name!r}: tensor {key!r} is not a bottleneck parameter")
        found[f"{match['location']}.adapters.{NAME_SLOT}.{match['param']}"] = tensor.to(torch.float64)
    return found


def merge(adapters: Sequence[LoadedAdapter], spec: MergeSpec, name: str) -> MergedAdapter:
    """Σ w̄ᵢ θᵢ for every parameter θ (weights normalised to sum 1); saved as adapter ``name``."""
    if spec.method != "linear":
        raise MergeError(
            f"bottleneck adapters merge only with --method linear (parameter averaging), not {spec.method}"
        )
    if spec.rank is not None or spec.exact:
        raise MergeError("--rank and --exact apply to LoRA; bottleneck parameters are averaged")
    first = adapters[0]
    for other in adapters[1:]:
        differing = sorted(
            k for k in first.config.keys() | other.config.keys() if first.config.get(k) != other.config.get(k)
        )
        if differing:
            key = differing[0]
            raise MergeError(
                f"{first.name!r} and {other.name!r} have different bottleneck configs: {key} is "
                f"{first.config.get(key)!r} vs {other.config.get(key)!r}"
            )
    groups = [parameters_of(adapter) for adapter in adapters]
    keys = same_layout(
        [a.name for a in adapters], [{k: tuple(v.shape) for k, v in g.items()} for g in groups], "parameters"
    )
    weights = spec.combination_weights
    tensors = {
        key.replace(NAME_SLOT, name): weighted_sum([g[key] for g in groups], weights)
        .to(torch.float32)
        .contiguous()
        for key in keys
    }
    config = dict(first.raw_config)
    config["name"] = name
    summary = {"approximation": "parameter averaging (outputs are not averaged)", "parameters": len(keys)}
    return MergedAdapter(config, WEIGHTS_FILE, tensors, summary)

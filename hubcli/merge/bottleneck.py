"""Averaging bottleneck adapters' parameters (AdapterHub layout), an approximation.

A bottleneck adapter computes h + f(h·W_down + b_down)·W_up + b_up with a non-linearity f, so
the adapter with averaged parameters is *not* the average of the adapters' outputs (that is the
``average`` composition block). Parameter averaging is still what the ``adapters`` library's
``average_adapter()`` does for bottleneck adapters, and works best for adapters fine-tuned from
a shared starting point. Only linear merging is offered: the other methods treat parameters as
deltas from a shared base, which a bottleneck's down projection is not.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hubcli.merge.merged import MergedAdapter, average_saved_modules, same_layout
from hubcli.merge.spec import MergeError, MergeSpec
from hubcli.merge.task_vectors import weighted_sum
from hubcli.plugin_api import LoadedAdapter, ModuleUpdate, ParameterUpdate


def parameters_of(
    adapter: LoadedAdapter, updates: Sequence[ModuleUpdate]
) -> dict[tuple[str, str], torch.Tensor]:
    """(module path, parameter name) → the parameter, in float64 for the weighted sum."""
    found = {}
    for update in updates:
        if not isinstance(update, ParameterUpdate):
            raise MergeError(f"adapter {adapter.name!r}: {update.module!r} has no bottleneck parameters")
        for param, tensor in update.tensors.items():
            found[(update.module, param)] = tensor.to(torch.float64)
    return found


def merge(
    adapters: Sequence[LoadedAdapter],
    updates: Sequence[Sequence[ModuleUpdate]],
    saved: Sequence[dict[str, torch.Tensor]],
    spec: MergeSpec,
) -> MergedAdapter:
    """Σ w̄ᵢ θᵢ for every parameter θ (weights normalised to sum 1)."""
    first = adapters[0]
    kind = first.architecture  # bottleneck, or a plugin's parameter-update method (BitFit …)
    if spec.method != "linear":
        raise MergeError(
            f"{kind} adapters merge only with --method linear (parameter averaging), not {spec.method}"
        )
    if spec.rank is not None:
        raise MergeError(f"--rank applies to LoRA; {kind} parameters are averaged")
    for other in adapters[1:]:
        differing = sorted(
            k for k in first.config.keys() | other.config.keys() if first.config.get(k) != other.config.get(k)
        )
        if differing:
            key = differing[0]
            raise MergeError(
                f"{first.name!r} and {other.name!r} have different {kind} configs: {key} is "
                f"{first.config.get(key)!r} vs {other.config.get(key)!r}"
            )
    groups = [parameters_of(adapter, own) for adapter, own in zip(adapters, updates, strict=True)]
    named = [{f"{module}.{param}": tensor for (module, param), tensor in group.items()} for group in groups]
    same_layout(
        [a.name for a in adapters], [{k: tuple(v.shape) for k, v in g.items()} for g in named], "parameters"
    )
    weights = spec.combination_weights
    merged: dict[str, dict[str, torch.Tensor]] = {}
    for module, param in sorted(groups[0]):
        tensor = weighted_sum([group[(module, param)] for group in groups], weights)
        merged.setdefault(module, {})[param] = tensor.to(torch.float32).contiguous()
    summary = {
        "approximation": "parameter averaging (outputs are not averaged)",
        "parameters": len(groups[0]),
    }
    # Parameter updates may come with whole saved modules (a plugin's task head): averaged too.
    averaged = average_saved_modules(adapters, saved, spec)
    return MergedAdapter([ParameterUpdate(module=m, tensors=t) for m, t in merged.items()], averaged, summary)

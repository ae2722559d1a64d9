"""Finding an attached adapter's parameters again, as the tensors of its files.

Architecture plugins build their modules from the saved tensors in their own way (wrapping
them, copying them into a module, flattening a vector), and the plugin contract rightly says
nothing about it. Training needs the correspondence both ways: which parameters to optimise,
and which file tensor each one becomes when saved. We get it without knowing any plugin's
internals: the adapter is attached with random *probe* values that no two tensors share, and
each parameter of the adapter's modules is matched to the one tensor with the same values.
The real initial values are then copied in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from hubcli.plugin_api import HubcliError

if TYPE_CHECKING:
    from hubcli.engine.stitched import StitchedModel


def adapter_modules(stitched: StitchedModel, name: str) -> list[nn.Module]:
    """Every module the engine holds for adapter ``name``: projection deltas, bottleneck
    modules, input adapters (prompt, prefix) and head copies."""
    found: list[nn.Module] = [slot.adapters[name] for slot in stitched.slots_of(name)]
    found += [block.adapters[name] for block in stitched.blocks.values() if name in block.adapters]
    inputs = stitched.input_adapters
    if name in inputs:
        found.append(inputs[name])
    found += [head.copies[name] for head in stitched.heads.values() if name in head.copies]
    task_heads = stitched.task_heads
    if task_heads is not None and name in task_heads.copies:
        found.append(task_heads.copies[name])
    return found


@dataclass
class TrainableTensors:
    """File tensor name → the live parameter that holds it (same number of values)."""

    parameters: dict[str, nn.Parameter]
    shapes: dict[str, torch.Size]

    def state(self) -> dict[str, torch.Tensor]:
        """The current values, shaped as in the files, on the CPU."""
        return {key: p.detach().reshape(self.shapes[key]).cpu().clone() for key, p in self.parameters.items()}

    def load(self, state: Mapping[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for key, parameter in self.parameters.items():
                parameter.copy_(state[key].reshape(parameter.shape).to(parameter.device, parameter.dtype))


def match(stitched: StitchedModel, name: str, probes: Mapping[str, torch.Tensor]) -> TrainableTensors:
    """Pair each probe tensor with the parameter of ``name`` that holds its values; every
    probe must be found (else the architecture cannot be trained this way)."""
    candidates: dict[int, nn.Parameter] = {}
    for module in adapter_modules(stitched, name):
        for parameter in module.parameters():
            candidates[id(parameter)] = parameter
    by_size: dict[int, list[nn.Parameter]] = {}
    for parameter in candidates.values():
        by_size.setdefault(parameter.numel(), []).append(parameter)
    found: dict[str, nn.Parameter] = {}
    for key, probe in probes.items():
        flat = probe.flatten().float()
        hit = next(
            (
                p
                for p in by_size.get(probe.numel(), [])
                if torch.equal(p.detach().flatten().float().cpu(), flat)
            ),
            None,
        )
        if hit is None:
            raise HubcliError(f"adapter {name!r}: the engine keeps no trainable parameter for tensor {key!r}")
        found[key] = hit
    return TrainableTensors(found, {key: probe.shape for key, probe in probes.items()})

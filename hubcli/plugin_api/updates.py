"""What an adapter changes in each module it adapts, in a format-neutral form.

``ArchitecturePlugin.module_updates`` returns these and ``write_updates`` takes them back:
``hubcli compare`` measures them and ``hubcli merge`` combines them without knowing a format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, kw_only=True)
class ModuleUpdate:
    """What an adapter changes in one module (``ArchitecturePlugin.module_updates``).

    ``module`` is the module's path as the adapter's files name it, without the format's
    prefix or container (``bert.encoder.layer.0.attention.self.query``; the engine resolves it
    against the full model or its backbone). ``part`` is set when the update acts on one of
    q, k, v inside a fused projection whose output is [q | k | v] (GPT-2's ``c_attn``): the
    update then covers that third of the output only.
    """

    module: str
    part: str | None = None


@dataclass(frozen=True, kw_only=True)
class LowRankUpdate(ModuleUpdate):
    """ΔW = scaling · B · A ([out, in]; A is [r, in], B is [out, r]): LoRA and its kin.
    An embedding's update is the same with ``in`` the vocabulary (ΔW is the table's transpose).
    ``bias`` ([out], PEFT's ``lora_bias``) makes the output change scaling · (B·A·x + bias).

    The one form of ΔW in hubcli: plugins return it, merge and analysis compute on it, and the
    engine's leaf adapters give it (``LeafAdapter.low_rank_factors``). ``module`` is empty for
    a ΔW not tied to a module path: a leaf adapter's (its slot is the place), or a merge's
    factors before they are placed."""

    module: str = ""
    A: torch.Tensor
    B: torch.Tensor
    scaling: float
    bias: torch.Tensor | None = None

    @property
    def rank(self) -> int:
        return self.A.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.B.shape[0], self.A.shape[1])

    def dense(self) -> torch.Tensor:
        return self.scaling * (self.B @ self.A)


@dataclass(frozen=True, kw_only=True)
class ScaleUpdate(ModuleUpdate):
    """The module's output (or, with ``on_input``, its input) multiplied entry-wise by
    ``vector`` (1-D, one entry per channel): IA³. "No change" is a vector of ones."""

    vector: torch.Tensor
    on_input: bool = False


@dataclass(frozen=True, kw_only=True)
class ParameterUpdate(ModuleUpdate):
    """New parameters at ``module`` by parameter name: a bottleneck adapter's projections, a
    prompt table, or base-model parameters trained with the adapter (PEFT LoRA's ``bias``)."""

    tensors: dict[str, torch.Tensor]

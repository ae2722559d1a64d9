"""The canonical LoRA config: one shape for PEFT and AdapterHub LoRAs.

It holds everything the engine needs to rebuild ΔW = s · B · A for every wrapped module without
the original file: the rank and alpha (with PEFT's per-module patterns), the scaling rule that was
really in force when the adapter was trained, where the modules are, and the options that change
the forward pass (DoRA, Conv1D orientation, trained biases, gating).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from hubcli.plugin_api.formats.adapterhub import AdapterHubTargets
from hubcli.plugin_api.formats.peft import PeftTargets, pattern_value

ScalingRule = Literal["alpha/r", "alpha/sqrt(r)", "1"]
"""``alpha/r``: standard LoRA; ``alpha/sqrt(r)``: rsLoRA; ``1``: saved by ``adapters`` < 1.1,
which ignored alpha while training, so the weights only reproduce with no scaling."""


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    r: PositiveInt
    alpha: float
    scaling_rule: ScalingRule = "alpha/r"
    targets: PeftTargets | AdapterHubTargets = Field(discriminator="kind")
    rank_pattern: dict[str, PositiveInt] = {}
    """PEFT: module-path suffix (regex) → rank; the first matching key wins."""
    alpha_pattern: dict[str, float] = {}
    fan_in_fan_out: bool = False
    """The wrapped layer stores its weight as [in, out] (GPT-2's Conv1D); A and B do not change."""
    use_dora: bool = False
    bias: Literal["none", "all", "lora_only"] = "none"
    """PEFT: which base-layer biases were trained and saved with the adapter."""
    lora_bias: bool = False
    """PEFT: lora_B has a bias of its own."""
    modules_to_save: list[str] = []
    """Modules saved whole next to the adapter (a SEQ_CLS classifier), by name."""
    dropout: float = 0.0
    use_gating: bool = False
    """AdapterHub: a learned sigmoid gate (UniPELT) replaces the scaling."""

    def rank_for(self, module: str) -> int:
        return pattern_value(self.rank_pattern, module, self.r)

    def alpha_for(self, module: str) -> float:
        return pattern_value(self.alpha_pattern, module, self.alpha)

    def scaling_for(self, module: str) -> float:
        """The factor s in ΔW = s · B · A for the module at ``module``."""
        if self.scaling_rule == "1":
            return 1.0
        rank, alpha = self.rank_for(module), self.alpha_for(module)
        return alpha / math.sqrt(rank) if self.scaling_rule == "alpha/sqrt(r)" else alpha / rank

"""The canonical IA³ config (Liu et al. 2022): learned vectors that rescale activations.

PEFT scales the *output* of most target modules and the *input* of its feed-forward modules;
``adapters`` (a LoRA config with ``composition_mode: "scale"``) scales outputs only, times alpha.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from hubcli.plugin_api.formats.adapterhub import AdapterHubTargets
from hubcli.plugin_api.formats.peft import PeftTargets


class IA3Config(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    targets: PeftTargets | AdapterHubTargets = Field(discriminator="kind")
    feedforward_modules: list[str] | str | None = None
    """PEFT: modules whose input is scaled (a regex, full match, or name suffixes)."""
    fan_in_fan_out: bool = False
    modules_to_save: list[str] = []
    scale: float = 1.0
    """Factor applied to every vector: ``adapters`` uses alpha (1 for files saved by < 1.1)."""
    use_gating: bool = False

    def is_feedforward(self, module: str) -> bool:
        """PEFT's rule for which modules scale their input rather than their output."""
        if isinstance(self.feedforward_modules, str):
            return re.fullmatch(self.feedforward_modules, module) is not None
        return any(module.endswith(suffix) for suffix in self.feedforward_modules or [])

"""BitFit's saved format and its canonical config; no torch, so hubcli can list and validate
BitFit adapters cheaply.

A BitFit adapter folder holds two files:

- ``adapter_config.json``: ``{"method": "bitfit", "format_version": 1, "targets": [...],
  "base_model": ..., "model_type": ..., "task_type": ...}``. ``method`` is how detection
  recognises the folder; ``task_type`` uses PEFT's names (``SEQ_CLS``, ``CAUSAL_LM``), because
  that is what hubcli reads to pick the base model's Auto class.
- ``bitfit.safetensors``: one vector per tuned bias, named after the bias parameter it shifts
  (``encoder.layer.0.attention.self.query.bias``), holding the *delta* (trained − original),
  so the file is meaningful without a copy of the base and merging is one addition. BitFit also
  trains the task's classification layer (the paper does): the modules listed in
  ``modules_to_save`` (``classifier``) are saved whole, as ``<module>.<parameter>``, as PEFT
  saves them, because a new task usually has its own label count.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

METHOD = "bitfit"
FORMAT = "native"
FORMAT_VERSION = 1
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "bitfit.safetensors"
BIAS_SUFFIX = ".bias"


class BitFitFile(BaseModel):
    """``adapter_config.json`` as written by ``hubcli_bitfit.save_bitfit``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    method: str
    format_version: int = FORMAT_VERSION
    targets: list[str] = Field(min_length=1)
    modules_to_save: list[str] = []
    base_model: str | None = None
    model_type: str | None = None
    task_type: str | None = None


class BitFitConfig(BaseModel):
    """The canonical config hubcli stores for a BitFit adapter."""

    model_config = ConfigDict(extra="forbid", strict=True)

    targets: list[str] = Field(min_length=1)
    """Module name suffixes that were tuned (``query``, ``output.dense``, ``c_attn``): a module
    is a target when its dotted path ends with one of them (PEFT's matching rule)."""

    modules_to_save: list[str] = []
    """Full-model paths of modules saved whole (the task head), e.g. ``["classifier"]``."""

    def targets_module(self, path: str) -> bool:
        return any(path == suffix or path.endswith("." + suffix) for suffix in self.targets)

    def saved_module_of(self, tensor: str) -> tuple[str, str] | None:
        """``(module, parameter)`` when ``tensor`` belongs to a module saved whole, else None
        (the longest listed path wins: ``classifier.dense`` before ``classifier``)."""
        for module in sorted(self.modules_to_save, key=len, reverse=True):
            if tensor.startswith(module + "."):
                return module, tensor[len(module) + 1 :]
        return None


def module_of(tensor: str) -> str | None:
    """The module path a delta tensor belongs to (``….query.bias`` → ``….query``)."""
    return tensor[: -len(BIAS_SUFFIX)] if tensor.endswith(BIAS_SUFFIX) and tensor != BIAS_SUFFIX else None

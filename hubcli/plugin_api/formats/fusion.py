"""Saved AdapterFusion layers: the file and tensor names and the settings (``adapters``'
AdapterFusionConfig), shared by the block that builds and saves fusion layers (``fuse``) and
the architecture that validates saved fusions at import (``fusion``). No torch.

AdapterHub (``save_adapter_fusion``): ``adapter_fusion_config.json`` (``adapter_names``,
``config``) and ``pytorch_model_adapter_fusion.bin`` or ``model_adapter_fusion.safetensors``
with keys ``…<layer>.<location>.adapter_fusion_layer.<a,b,c>.<query|key|value>.<weight|bias>``.
hubcli: ``fusion.json`` (``format: hubcli-fusion``, ``adapters``, ``config``, optional ``head``) and
``fusion.safetensors`` with keys ``<layer>_<position>.<query|key|value>.<weight|bias>``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

ADAPTERHUB_CONFIG = "adapter_fusion_config.json"
ADAPTERHUB_WEIGHTS = ("model_adapter_fusion.safetensors", "pytorch_model_adapter_fusion.bin")
OWN_CONFIG = "fusion.json"
OWN_WEIGHTS = "fusion.safetensors"
OWN_FORMAT = "hubcli-fusion"
HEAD_PREFIX = "head."
"""hubcli's files: the fusion's own classification head (``fusion.json`` ``head``: its AdapterHub
head config) is stored beside the layers as ``head.<index>.<weight|bias>``."""

ADAPTERHUB_KEY = re.compile(
    r"(?:^|\.)(?P<layer>\d+)\.(?P<location>attention\.output|attention_adapters|output|output_adapters)"
    r"\.adapter_fusion_layer\.[^.]+\.(?P<param>(?:query|key|value)\.(?:weight|bias))$"
)
OWN_KEY = re.compile(
    r"^(?P<layer>\d+)_(?P<position>attention|ffn)\.(?P<param>(?:query|key|value)\.(?:weight|bias))$"
)
POSITION = {
    "attention.output": "attention",
    "attention_adapters": "attention",
    "output": "ffn",
    "output_adapters": "ffn",
}
"""Where ``adapters`` keeps a layer's fusion (the key part after the layer index) → the
engine's sub-block position."""


def own_key(adapterhub_key: str) -> str | None:
    """hubcli's name (``<layer>_<position>.<param>``) of an AdapterHub fusion tensor; None when
    the name is not one."""
    found = ADAPTERHUB_KEY.search(adapterhub_key)
    if found is None:
        return None
    return f"{found['layer']}_{POSITION[found['location']]}.{found['param']}"


class FusionSettings(BaseModel):
    """``adapter_fusion_config.json`` → ``config`` (and the ``config`` of hubcli's own files)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    key: bool = True
    query: bool = True
    value: bool = True
    query_before_ln: bool = False
    regularization: bool = True
    residual_before: bool = False
    temperature: bool = False
    value_before_softmax: bool = True
    value_initialized: bool = True
    dropout_prob: float | None = None

    @classmethod
    def preset(cls, static: bool) -> FusionSettings:
        """``adapters``' "static" (no value matrix, no regularisation) or "dynamic" (default)."""
        if static:
            return cls(value=False, regularization=False, value_initialized=False)
        return cls()

    def parameters(self) -> set[str]:
        """The tensor names (``query.weight`` …) one fusion layer with these settings has."""
        names = set()
        if self.query:
            names |= {"query.weight", "query.bias"}
        if self.key:
            names |= {"key.weight", "key.bias"}
        if self.value:
            names.add("value.weight")
        return names

"""File and tensor names of saved fusions, without torch: shared by the fuse block's file
reader (``fuse.files``) and the ``fusion`` architecture plugin that validates them at import.

AdapterHub (``save_adapter_fusion``): ``adapter_fusion_config.json`` (``adapter_names``,
``config``) and ``pytorch_model_adapter_fusion.bin`` or ``model_adapter_fusion.safetensors``
with keys ``…<layer>.<location>.adapter_fusion_layer.<a,b,c>.<query|key|value>.<weight|bias>``.
hubcli: ``fusion.json`` (``format: hubcli-fusion``, ``adapters``, ``config``, optional ``head``) and
``fusion.safetensors`` with keys ``<layer>_<position>.<query|key|value>.<weight|bias>``.
"""

from __future__ import annotations

import re

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


def own_key(adapterhub_key: str) -> str | None:
    """hubcli's name (``<layer>_<position>.<param>``) of an AdapterHub fusion tensor; None when
    the name is not one."""
    found = ADAPTERHUB_KEY.search(adapterhub_key)
    if found is None:
        return None
    return f"{found['layer']}_{POSITION[found['location']]}.{found['param']}"

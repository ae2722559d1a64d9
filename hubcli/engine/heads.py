"""PEFT ``modules_to_save``: whole modules (a SEQ_CLS classifier) saved next to the adapter.

PEFT names them ``base_model.model.<path>.<param>`` (LoRA, IA³) or ``base_model.<path>.<param>``
(prompt learning). Each listed module becomes a per-adapter copy in a ``HeadSlot``, so the base
model's own head comes back when the adapter is deactivated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

import torch

from hubcli.plugin_api import AttachTarget

PEFT_PREFIXES = ("base_model.model.", "base_model.")


def saved_module_of(key: str, modules_to_save: Iterable[str]) -> tuple[str, str] | None:
    """``(module path, parameter name)`` when ``key`` belongs to a saved module, else None.

    PEFT's rule: a module is saved when its path *ends with* a listed name, so "classifier"
    also catches DistilBERT's ``pre_classifier``; the shortest matching path wins.
    """
    names = tuple(modules_to_save)
    path = next((key[len(p) :] for p in PEFT_PREFIXES if key.startswith(p)), key)
    parts = path.split(".")
    for index in range(len(parts) - 1):
        module = ".".join(parts[: index + 1])
        if names and module.endswith(names):
            return module, ".".join(parts[index + 1 :])
    return None


def attach_saved_modules(
    target: AttachTarget, name: str, tensors: Mapping[str, torch.Tensor], modules_to_save: Iterable[str]
) -> set[str]:
    """Give adapter ``name`` its copies of the saved modules; returns the tensor keys used."""
    wanted = set(modules_to_save)
    grouped: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    used = set()
    for key, tensor in tensors.items():
        found = saved_module_of(key, wanted)
        if found:
            grouped[found[0]][found[1]] = tensor
            used.add(key)
    for path, state in grouped.items():
        target.add_head(name, path, state)
    return used

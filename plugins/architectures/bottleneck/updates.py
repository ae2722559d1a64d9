"""Bottleneck adapters as format-neutral updates (``ArchitecturePlugin.module_updates``) and
back: one ``ParameterUpdate`` per location, from and to AdapterHub's
``<location>.adapters.<name>.<parameter>`` names (the adapter's name is part of every key, so
the writer puts the new adapter's name there)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from hubcli.plugin_api import CapabilityNotSupported, LoadedAdapter, ModuleUpdate, ParameterUpdate
from hubcli.plugin_api.formats import adapterhub
from hubcli.plugin_api.formats.writing import write_adapter_from_updates
from plugins.architectures.bottleneck.formats import KEY


def module_updates(adapter: LoadedAdapter) -> list[ModuleUpdate]:
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in adapter.tensors.items():
        found = KEY.match(key)
        if found is None:
            raise CapabilityNotSupported(
                f"adapter {adapter.name!r}: tensor {key!r} is not a bottleneck parameter"
            )
        grouped.setdefault(found["location"], {})[found["param"]] = tensor
    return [ParameterUpdate(module=location, tensors=params) for location, params in grouped.items()]


def write_updates(
    updates: Sequence[ModuleUpdate],
    folder: Path,
    *,
    sources: Sequence[LoadedAdapter],
    name: str,
    saved: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """``updates`` as an AdapterHub bottleneck adapter named ``name``, with the first source's
    config (the merge has checked that all sources share it)."""
    if saved:
        raise CapabilityNotSupported("bottleneck adapters carry no saved modules")
    tensors = {}
    for update in updates:
        if not isinstance(update, ParameterUpdate):
            raise CapabilityNotSupported(
                f"{update.module!r}: only parameters can be written as a bottleneck adapter"
            )
        for param, tensor in update.tensors.items():
            tensors[f"{update.module}.adapters.{name}.{param}"] = tensor
    config = dict(sources[0].raw_config)
    config["name"] = name
    write_adapter_from_updates(folder, config, adapterhub.WEIGHT_FILES[0], tensors)

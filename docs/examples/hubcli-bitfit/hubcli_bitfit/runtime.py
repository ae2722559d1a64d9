"""BitFit's model side, as ``BitFitArchitecture.runtime`` names it: hubcli imports this module
(and with it torch) the first time a model runs, and calls its functions for the plugin's
model-side methods of the same names. The plugin class itself forwards nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from hubcli.plugin_api import AttachTarget, LoadedAdapter, ModuleUpdate

from hubcli_bitfit import files
from hubcli_bitfit.layer import attach
from hubcli_bitfit.untrained import untrained

__all__ = ["attach", "merge", "unmerge", "untrained", "write_updates"]


def merge(target: AttachTarget, name: str) -> None:
    for slot in target.slots_of(name):
        slot.merge(name)


def unmerge(target: AttachTarget, name: str) -> None:
    for slot in reversed(target.slots_of(name)):
        slot.unmerge(name)


def write_updates(
    updates: Sequence[ModuleUpdate],
    folder: Path,
    *,
    sources: Sequence[LoadedAdapter],
    name: str,
    saved: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """A BitFit folder holding ``updates`` as bias deltas (``saved``: the averaged head), with
    the targets and metadata of ``sources``, which must agree on targets and head modules. A
    BitFit folder does not record its name, so ``name`` is not written."""
    files.write_updates(updates, folder, sources, saved or {})

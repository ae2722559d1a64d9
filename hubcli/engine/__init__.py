"""The engine: load a base model, attach registry adapters, run them.

    from hubcli.engine import load
    stitched = load("bert-base-uncased", adapters=["sst2-lora"], registry=registry)
    stitched.activate("sst2-lora")
    logits = stitched.forward(input_ids, attention_mask).logits

Design notes are in docs/engine.md. This package imports torch; the CLI imports it only inside
the commands that run models.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from hubcli.engine.loading import load_base_model, read_adapter
from hubcli.engine.stitched import StitchedModel
from registry import Registry

__all__ = ["StitchedModel", "load", "load_base_model", "read_adapter"]


def load(
    base: str | Path | nn.Module,
    adapters: Sequence[str] = (),
    *,
    registry: Registry | None = None,
    dtype: str = "float32",
    device: str = "cpu",
    activate: bool = True,
) -> StitchedModel:
    """Load ``base``, attach the registry adapters ``adapters`` and (by default) activate them
    all, stacked in the order given.

    The adapters' task (PEFT ``task_type``) picks the Auto class of a base given by name, so an
    adapter with a classifier head gets a model with a head; the adapter's head weights replace
    it even when its label count differs from the base config's.
    """
    if adapters and registry is None:
        from registry import open_registry

        registry = open_registry()
    loaded = [read_adapter(registry, name) for name in adapters] if registry else []
    tasks = [task for item in loaded if (task := item.raw_config.get("task_type"))]
    model = load_base_model(base, task=tasks[0] if tasks else None, dtype=dtype, device=device)
    stitched = StitchedModel(model)
    for item in loaded:
        stitched.attach(item)
    if activate and loaded:
        stitched.activate(*(item.name for item in loaded))
    return stitched

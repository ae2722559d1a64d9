"""BitFit adapters for the kit's tiny models, with deltas large enough to change outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hubcli.testing import TINY_TASK_TYPES

from hubcli_bitfit import save_bitfit

TARGETS = {
    "bert": ["query", "value", "output.dense"],
    "roberta": ["key", "intermediate.dense"],
    "distilbert": ["q_lin", "lin1"],
    "gpt2": ["c_attn", "c_fc"],
}


def random_deltas(model: Any, targets: list[str], seed: int = 0) -> dict[str, torch.Tensor]:
    """One random delta per bias of every targeted Linear / Conv1D module of ``model``."""
    generator = torch.Generator().manual_seed(seed)
    deltas = {}
    for path, module in model.named_modules():
        bias = getattr(module, "bias", None)
        projection = isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"
        if projection and bias is not None and any(path.endswith(t) for t in targets):
            deltas[f"{path}.bias"] = torch.randn(bias.shape, generator=generator) * 0.5
    return deltas


HEADS = {
    "bert": ["classifier"],
    "roberta": ["classifier"],
    "distilbert": ["pre_classifier", "classifier"],
    "gpt2": [],
}
"""The task-head modules of each tiny model (GPT-2's language-model head is tied to the embeddings)."""


def random_head(model: Any, modules: list[str], seed: int = 0) -> dict[str, torch.Tensor]:
    """New random values for every parameter of the head ``modules``, named ``<module>.<param>``."""
    generator = torch.Generator().manual_seed(seed + 100)
    return {
        f"{module}.{name}": torch.randn(p.shape, generator=generator) * 0.3
        for module in modules
        for name, p in model.get_submodule(module).named_parameters()
    }


def write_bitfit(
    folder: Path, model: Any, family: str, seed: int = 0, with_head: bool = False
) -> dict[str, torch.Tensor]:
    """Save a BitFit adapter for ``model`` (a tiny model of ``family``), with a new task head
    when ``with_head``; returns its bias deltas."""
    deltas = random_deltas(model, TARGETS[family], seed)
    modules = HEADS[family] if with_head else []
    save_bitfit(
        folder,
        deltas,
        TARGETS[family],
        head=random_head(model, modules, seed),
        modules_to_save=modules,
        base_model=f"tiny-{family}",
        model_type=model.config.model_type,
        task_type=TINY_TASK_TYPES[family],
    )
    return deltas


def write_bitfit_with_head(folder: Path, model: Any, family: str) -> None:
    write_bitfit(folder, model, family, with_head=True)

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


def write_bitfit(folder: Path, model: Any, family: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Save a BitFit adapter for ``model`` (a tiny model of ``family``); returns its deltas."""
    deltas = random_deltas(model, TARGETS[family], seed)
    save_bitfit(folder, deltas, TARGETS[family], base_model=f"tiny-{family}",
                model_type=model.config.model_type, task_type=TINY_TASK_TYPES[family])
    return deltas

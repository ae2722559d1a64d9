"""Weight files beyond their headers: NaN/Inf counts without torch, pickles without code.

The safetensors header itself is read by ``hubcli.plugin_api.tensors`` (plugins see tensor
headers through it). Legacy ``.bin`` pickles are opened only with
``torch.load(weights_only=True)`` and converted to safetensors.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from hubcli.plugin_api.errors import AdapterFormatError, UnsafeInputError
from hubcli.plugin_api.tensors import safetensors_entries
from registry.faults import checkpoint

# Bit masks of the exponent field: a float is NaN or ±Inf exactly when all its exponent bits
# are set. Reading the raw bits lets us check bf16 and fp8 too, which numpy cannot represent.
_EXPONENT_MASKS = {
    "F64": ("<u8", 0x7FF0000000000000),
    "F32": ("<u4", 0x7F800000),
    "F16": ("<u2", 0x7C00),
    "BF16": ("<u2", 0x7F80),
}


def count_non_finite(path: Path, label: str | None = None) -> dict[str, int]:
    """Tensor name → number of NaN/Inf values, for the tensors that have any (no torch)."""
    import numpy as np

    entries, data_start = safetensors_entries(path, label or path.name)
    found = {}
    for entry in entries:
        if entry.dtype not in _EXPONENT_MASKS or entry.begin == entry.end:
            continue
        word, mask = _EXPONENT_MASKS[entry.dtype]
        count = np.dtype(word).itemsize
        bits = np.fromfile(
            path, dtype=word, count=(entry.end - entry.begin) // count, offset=data_start + entry.begin
        )
        bad = int(np.count_nonzero((bits & mask) == mask))
        if bad:
            found[entry.name] = bad
    return found


def _unpickling_reason(exc: Exception) -> str:
    """The useful paragraph of torch's long weights-only error (e.g. the global it refused),
    without its boilerplate about re-running with ``weights_only=False``."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", str(exc)) if p.strip()]
    boilerplate = ("Weights only load failed", "Check the documentation", "Please file an issue")
    useful = [p for p in paragraphs if not p.startswith(boilerplate)]
    reason = " ".join((useful or paragraphs or [type(exc).__name__])[0].split())
    return reason if len(reason) <= 200 else reason[:197] + "..."


def convert_pickle_to_safetensors(source: Path, target: Path, label: str | None = None) -> None:
    """Load a ``.bin`` state dict without executing code and write it as safetensors."""
    import torch
    from safetensors.torch import save_file

    where = label or source.name
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols: noise here
            warnings.simplefilter("ignore")
            state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types: UnpicklingError, RuntimeError, EOFError
        raise UnsafeInputError(
            f"{where}: refused to load this pickle safely (weights_only): {_unpickling_reason(exc)}"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise AdapterFormatError(f"{where}: expected a dict of tensor name → tensor")
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(target))
    checkpoint("pickle-converted")

"""Reading weight files safely: safetensors headers without torch, pickles without code.

A safetensors file starts with an 8-byte little-endian header length and a JSON header that
names every tensor's dtype, shape and byte range. We parse and check that header ourselves
(lying offsets, overlaps, impossible sizes) so listing and validating an adapter never needs
torch. Legacy ``.bin`` pickles are opened only with ``torch.load(weights_only=True)`` and
converted to safetensors.
"""

from __future__ import annotations

import json
import math
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

from hubcli.errors import AdapterFormatError, UnsafeInputError
from registry.faults import checkpoint

DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "U16": 2,
    "U32": 4,
    "U64": 8,
}
MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorInfo:
    """What a weight file says about one tensor."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class _Entry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _checked_entries(path: Path, where: str) -> tuple[list[_Entry], int]:
    """The header's tensors after every check, and where the data starts in the file."""
    size = path.stat().st_size
    if size < 8:
        raise AdapterFormatError(f"{where}: not a safetensors file ({size} bytes)")
    with open(path, "rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        if header_len > min(size - 8, MAX_HEADER_BYTES):
            raise AdapterFormatError(
                f"{where}: safetensors header claims {header_len} bytes but the file has {size}"
            )
        raw = handle.read(header_len)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterFormatError(f"{where}: safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise AdapterFormatError(f"{where}: safetensors header is not a JSON object")
    data_len = size - 8 - header_len
    entries = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise AdapterFormatError(f"{where}: tensor {name!r} has a malformed header entry") from None
        if dtype not in DTYPE_BYTES:
            raise AdapterFormatError(f"{where}: tensor {name!r} has unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise AdapterFormatError(f"{where}: tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data_len):
            raise AdapterFormatError(
                f"{where}: tensor {name!r} lies at bytes {begin}..{end}, past the end of the data "
                f"({data_len} bytes)"
            )
        if end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise AdapterFormatError(
                f"{where}: tensor {name!r} declares shape {shape} {dtype} but spans {end - begin} bytes"
            )
        entries.append(_Entry(name, dtype, tuple(shape), begin, end))
    ordered = sorted(entries, key=lambda e: (e.begin, e.end))
    for first, second in zip(ordered, ordered[1:], strict=False):
        if second.begin < first.end:
            raise AdapterFormatError(f"{where}: tensors {first.name!r} and {second.name!r} overlap")
    return entries, 8 + header_len


def read_safetensors_header(path: Path, label: str | None = None) -> dict[str, TensorInfo]:
    """Tensor names → dtype and shape, after checking the header against the file's size."""
    entries, _ = _checked_entries(path, label or path.name)
    return {e.name: TensorInfo(e.dtype, e.shape) for e in entries}


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

    entries, data_start = _checked_entries(path, label or path.name)
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

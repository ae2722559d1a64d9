"""Safetensors headers read without torch: what a plugin's ``validate`` sees of weight files.

A safetensors file starts with an 8-byte little-endian header length and a JSON header that
names every tensor's dtype, shape and byte range. We parse and check that header ourselves
(lying offsets, overlaps, impossible sizes) so listing and validating an adapter never needs
torch.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from hubcli.plugin_api.errors import AdapterFormatError

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
class TensorEntry:
    """One tensor of a safetensors header, with its byte range in the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def safetensors_entries(path: Path, where: str) -> tuple[list[TensorEntry], int]:
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
        entries.append(TensorEntry(name, dtype, tuple(shape), begin, end))
    ordered = sorted(entries, key=lambda e: (e.begin, e.end))
    for first, second in zip(ordered, ordered[1:], strict=False):
        if second.begin < first.end:
            raise AdapterFormatError(f"{where}: tensors {first.name!r} and {second.name!r} overlap")
    return entries, 8 + header_len


def read_safetensors_header(path: Path, label: str | None = None) -> dict[str, TensorInfo]:
    """Tensor names → dtype and shape, after checking the header against the file's size."""
    entries, _ = safetensors_entries(path, label or path.name)
    return {e.name: TensorInfo(e.dtype, e.shape) for e in entries}

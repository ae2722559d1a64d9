"""Datasets as plain rows: local CSV / TSV / JSON / JSONL / Parquet / text files or a Hugging
Face dataset id. The one dataset reader: eval, train, merge-hint and compare's CKA all read their
files here, so every command accepts the same formats and refuses a broken file with the same
one-line ``DatasetError``.

Rows are dicts. A local file may carry a ``split`` column (train / test …) that ``--split``
selects on, so one shipped file can hold both halves. A ``.txt`` file is one ``text`` per line.
The fingerprint stored with every evaluation is the sha256 of the file (or the ``datasets``
fingerprint of a Hub dataset) together with the split, the fields read and the row limit: two
scores with the same fingerprint were computed on the same examples.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcli.plugin_api import HubcliError

SPLIT_COLUMN = "split"
LOCAL_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")
TEXT_COLUMN = "text"
"""The column a ``.txt`` file's lines become."""


class DatasetError(HubcliError):
    title = "Dataset error"


@dataclass(frozen=True)
class Dataset:
    """Rows of one split of one dataset, and what identifies them."""

    name: str
    split: str | None
    rows: list[dict[str, Any]]
    source_digest: str
    """sha256 of the file, or ``hf:<datasets fingerprint>``."""
    label_names: list[str] | None = None
    """Names of integer labels when the source declares them (a ``datasets`` ClassLabel)."""

    def fingerprint(self, fields: Sequence[str | None], limit: int | None) -> str:
        key = json.dumps([self.source_digest, self.split, [f for f in fields if f], limit])
        return hashlib.sha256(key.encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_file(path: Path) -> list[dict[str, Any]]:
    """The rows of the local file ``path``, read by its suffix (``LOCAL_SUFFIXES``)."""
    suffix = path.suffix.lower()
    if suffix not in LOCAL_SUFFIXES:
        raise DatasetError(f"{path}: unknown dataset format (use {', '.join(LOCAL_SUFFIXES)})")
    try:
        if suffix == ".parquet":
            return _parquet_rows(path)
        with path.open(newline="", encoding="utf-8") as handle:
            if suffix in (".csv", ".tsv"):
                return list(csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ","))
            if suffix == ".txt":
                return [{TEXT_COLUMN: line.rstrip("\r\n")} for line in handle if line.strip()]
            return _json_rows(path, handle.read())
    except OSError as exc:
        raise DatasetError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except (ValueError, csv.Error) as exc:  # undecodable text, a damaged Parquet file (ArrowInvalid)
        raise DatasetError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from None


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError(f"{path}: reading Parquet needs pyarrow (pip install 'hubcli[parquet]')") from None
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def _json_rows(path: Path, text: str) -> list[dict[str, Any]]:
    """A JSON array of objects, or one object per line (JSON Lines, also in a ``.json`` file)."""
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        return [_object(record, path, None) for record in _decoded(text, path, None)]
    return [
        _object(_decoded(line, path, number), path, number)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]


def _decoded(text: str, path: Path, line: int | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{_where(path, line)}: not JSON ({exc})") from None


def _object(record: Any, path: Path, line: int | None) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise DatasetError(f"{_where(path, line)}: expected JSON objects (one row each)")
    return record


def _where(path: Path, line: int | None) -> str:
    return str(path) if line is None else f"{path}:{line}"


def _local(path: Path, split: str | None) -> Dataset:
    rows = read_file(path)
    if split is not None:
        if rows and SPLIT_COLUMN not in rows[0]:
            raise DatasetError(f"{path}: --split {split!r} given but the file has no {SPLIT_COLUMN!r} column")
        rows = [row for row in rows if row.get(SPLIT_COLUMN) == split]
        if not rows:
            raise DatasetError(f"{path}: no rows with {SPLIT_COLUMN} = {split!r}")
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return Dataset(str(path), split, rows, _sha256(path))


def _hub(name: str, split: str | None) -> Dataset:
    try:
        import datasets
    except ImportError:
        raise DatasetError(
            f"{name!r} is not a local file; Hugging Face datasets need the `datasets` package "
            "(pip install 'hubcli[datasets]')"
        ) from None
    repo, _, config = (name, "", "") if Path(name).exists() else name.partition(":")
    chosen = split or "validation"
    try:
        loaded = datasets.load_dataset(repo, config or None, split=chosen)
    except Exception as exc:  # datasets raises many unrelated types for "not found / offline"
        raise DatasetError(
            f"cannot load dataset {name!r} split {chosen!r}: {str(exc).splitlines()[0]}"
        ) from None
    names = None
    for feature in loaded.features.values():
        inner = getattr(feature, "feature", feature)  # tag lists: a sequence of ClassLabel
        if isinstance(inner, datasets.ClassLabel):
            names = list(inner.names)
            break
    return Dataset(name, chosen, loaded.to_list(), f"hf:{loaded._fingerprint}", names)


def is_local_file(source: str) -> bool:
    return Path(source).expanduser().is_file()


def load(source: str, split: str | None = None) -> Dataset:
    """The rows of ``source``: a local file; a local folder of per-split files or a Hugging
    Face dataset id, both read by ``datasets`` (``glue:sst2`` names a config)."""
    path = Path(source).expanduser()
    if path.is_dir():  # a folder of data files, one per split (train.csv, test.parquet …)
        return _hub(str(path), split)
    if path.exists():
        return _local(path, split)
    if path.suffix.lower() in LOCAL_SUFFIXES:
        raise DatasetError(f"{path}: no such file")
    return _hub(source, split)

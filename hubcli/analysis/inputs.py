"""Examples to run models on for representation similarity: token ids from a dataset file.

The file is read by the one dataset reader (``hubcli.evaluate.data.read_file``: CSV, TSV, JSON,
JSONL, Parquet or text, as for eval and train). A row gives ``input_ids`` (a list of ints, used
as given) or a text column, tokenised with the base model's tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from hubcli.evaluate.data import DatasetError, read_file


def read_token_ids(
    path: Path,
    *,
    tokenizer_source: str,
    column: str = "text",
    max_length: int = 128,
    limit: int | None = None,
) -> list[list[int]]:
    """Token ids of the first ``limit`` examples, cut to ``max_length``."""
    examples: list[list[int]] = []
    tokenizer = None
    for number, record in enumerate(read_file(path), 1):
        if limit is not None and len(examples) >= limit:
            break
        if "input_ids" in record:
            ids = record["input_ids"]
            if not (isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids)):
                raise DatasetError(f"{path}:{number}: input_ids must be a non-empty list of integers")
        elif isinstance(record.get(column), str):
            tokenizer = tokenizer or _tokenizer(tokenizer_source)
            ids = tokenizer(record[column], truncation=True, max_length=max_length)["input_ids"]
        else:
            raise DatasetError(f"{path}:{number}: no {column!r} text and no input_ids")
        examples.append(ids[:max_length])
    if not examples:
        raise DatasetError(f"{path}: no examples")
    return examples


def _tokenizer(source: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"cannot load the tokenizer of {source!r} ({str(exc).splitlines()[0]}); "
            "give a dataset of input_ids instead"
        ) from None


def batches(
    examples: list[list[int]], batch_size: int, pad_id: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(input_ids, attention_mask) batches, right-padded to the longest example of each."""
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        width = max(len(ids) for ids in chunk)
        input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, ids in enumerate(chunk):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        yield input_ids, mask

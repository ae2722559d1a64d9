"""Layer-by-layer CKA between real models (tiny BERTs, with and without a LoRA) over examples
read from dataset files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hubcli.analysis.inputs import batches, read_token_ids
from hubcli.analysis.representations import layerwise_cka
from hubcli.engine import load
from hubcli.evaluate.data import DatasetError
from registry import Registry
from tests.test_analysis_modules import add, save_peft_lora, tiny_bert

WORDS = ["the", "a", "film", "movie", "was", "good", "bad", "great", "dull", "plot", "actors", "fine"]


def save_tiny_base(folder: Path) -> Path:
    """The tiny BERT with a word-level tokenizer, saved as a local base model folder."""
    from transformers import BertTokenizer

    tiny_bert().save_pretrained(folder)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(folder)
    return folder


def write_ids(path: Path, count: int, seed: int = 0) -> Path:
    generator = torch.Generator().manual_seed(seed)
    with open(path, "w") as handle:
        for _ in range(count):
            length = int(torch.randint(3, 12, (1,), generator=generator))
            ids = torch.randint(5, 100, (length,), generator=generator).tolist()
            handle.write(json.dumps({"input_ids": ids}) + "\n")
    return path


def test_dataset_files(tmp_path: Path) -> None:
    base = save_tiny_base(tmp_path / "base")
    texts = tmp_path / "reviews.csv"
    texts.write_text("text,label\nthe film was good,1\na dull plot,0\n")
    ids = read_token_ids(texts, tokenizer_source=str(base))
    assert ids[1] == [2, 6, 13, 14, 3]
    lines = tmp_path / "lines.txt"
    lines.write_text("great actors\n\nthe movie was bad\n")
    assert len(read_token_ids(lines, tokenizer_source=str(base), limit=1)) == 1
    ids_file = write_ids(tmp_path / "ids.jsonl", 5)
    first = json.loads(ids_file.read_text().splitlines()[0])["input_ids"]
    assert read_token_ids(ids_file, tokenizer_source="unused", max_length=2)[0] == first[:2]
    with pytest.raises(DatasetError, match="no 'sentence' text and no input_ids"):
        read_token_ids(texts, tokenizer_source=str(base), column="sentence")
    batch_ids, mask = next(batches([[5, 6, 7], [8]], batch_size=2, pad_id=0))
    assert batch_ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_model_against_itself_and_against_its_lora(registry: Registry, tmp_path: Path) -> None:
    base = save_tiny_base(tmp_path / "base")
    add(registry, save_peft_lora(tmp_path / "lora", seed=1, alpha=64), "strong")
    examples = read_token_ids(write_ids(tmp_path / "ids.jsonl", 48), tokenizer_source="unused")
    plain = load(str(base)).model
    stitched = load(str(base), adapters=["strong"], registry=registry).model

    same = layerwise_cka(plain, plain, batches(examples, 16, 0), pool="tokens")
    assert same.matrix.shape == (3, 3) and same.batches == 3
    assert all(value == pytest.approx(1.0, abs=1e-9) for value in same.diagonal().values())

    versus = layerwise_cka(plain, stitched, batches(examples, 16, 0), layers=[0, 2])
    diagonal = versus.diagonal()
    assert diagonal[0] == pytest.approx(1.0, abs=1e-9)  # embeddings: the LoRA acts later
    assert diagonal[2] < 0.999
    assert versus.examples == 48

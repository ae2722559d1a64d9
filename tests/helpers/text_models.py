"""A tiny BERT with a real word-level tokenizer, saved as a model folder, and small synthetic
datasets whose labels are simple functions of the words: what eval and train tests run on.

The vocabulary is a few dozen words; the model (``hubcli.testing.tiny_model``: hidden 32, 2
layers) is random, so a frozen base cannot solve a task, and an adapter that learns shows it
plainly.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from hubcli.testing import save_tiny_model

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
POSITIVE = ["good", "great", "fine", "nice", "happy", "lovely"]
NEGATIVE = ["bad", "awful", "poor", "sad", "ugly", "dull"]
FILLER = ["the", "a", "movie", "film", "was", "is", "very", "plot", "and", "it", "show", "day"]
ENTITIES = ["paris", "london", "alice", "bob"]
WORDS = POSITIVE + NEGATIVE + FILLER + ENTITIES


def write_tiny_bert(folder: Path, *, task: str = "classification", seed: int = 0) -> Path:
    """A random tiny BERT (sequence classifier with 2 labels, token classifier or the bare
    backbone) and its WordPiece tokenizer, saved as a local model folder."""
    import transformers as tf

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tf.BertTokenizer(vocab={word: index for index, word in enumerate(SPECIAL + WORDS)})
    tokenizer.save_pretrained(folder)
    return save_tiny_model(
        "bert",
        folder,
        seed,
        head=task if task in ("classification", "token-classification") else None,
        random_biases=False,
        vocab_size=len(SPECIAL) + len(WORDS),
        num_labels=2,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.5,
    )


def sentiment_rows(count: int, seed: int = 0, fillers: int = 1) -> list[dict[str, object]]:
    """Short sentences; the label is whether the one sentiment word is positive."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        positive = rng.random() < 0.5
        words = rng.sample(FILLER, fillers)
        words.insert(rng.randrange(fillers + 1), rng.choice(POSITIVE if positive else NEGATIVE))
        rows.append({"text": " ".join(words), "label": "positive" if positive else "negative"})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_tiny_gpt2(folder: Path, tokenizer_from: Path, seed: int = 0) -> Path:
    """A random tiny GPT-2 language model that reuses the word-level tokenizer of
    ``tokenizer_from`` (a ``write_tiny_bert`` folder)."""
    import transformers as tf

    folder.mkdir(parents=True, exist_ok=True)
    # GPT-2 reads no token_type_ids (it would add them as token embeddings): do not produce them.
    tf.AutoTokenizer.from_pretrained(
        tokenizer_from, model_input_names=["input_ids", "attention_mask"]
    ).save_pretrained(folder)
    return save_tiny_model(
        "gpt2",
        folder,
        seed,
        random_biases=False,
        vocab_size=len(SPECIAL) + len(WORDS),
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )


def entity_rows(count: int, seed: int = 0) -> list[dict[str, object]]:
    """Word lists with IOB tags: names of places are B-LOC, people B-PER, the rest O."""
    rng = random.Random(seed)
    kinds = {"paris": "B-LOC", "london": "B-LOC", "alice": "B-PER", "bob": "B-PER"}
    rows = []
    for _ in range(count):
        words = rng.sample(FILLER, 3) + [rng.choice(ENTITIES)]
        rng.shuffle(words)
        rows.append({"tokens": words, "tags": [kinds.get(word, "O") for word in words]})
    return rows

"""What a task means for a batch of rows: the model inputs, the target tensor, the training loss
and the metrics. ``hubcli eval`` and ``hubcli train`` use the same ``Task`` objects, so a score
seen during training is the score ``hubcli eval`` gives afterwards.

Labels are matched *by name* between the dataset and the model's head: a dataset saying
"positive" is scored against the head's "positive" output, whatever its index. Heads without
names (``LABEL_0`` …) accept integer labels as indices.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from hubcli.evaluate import metrics
from hubcli.evaluate.data import Dataset
from hubcli.plugin_api import HubcliError

TASKS = ("classification", "pair-classification", "regression", "token-classification", "causal-lm")
PEFT_TASK = {
    "classification": "SEQ_CLS",
    "pair-classification": "SEQ_CLS",
    "regression": "SEQ_CLS",
    "token-classification": "TOKEN_CLS",
    "causal-lm": "CAUSAL_LM",
}
FIELD_CANDIDATES = {
    "text": ("text", "sentence", "sentence1", "premise", "question", "tokens", "words"),
    "pair": ("text_pair", "sentence2", "hypothesis"),
    "label": ("label", "labels", "score", "ner_tags", "tags"),
}
IGNORED = -100
_DEFAULT_LABEL = re.compile(r"^LABEL_(\d+)$")


class TaskError(HubcliError):
    title = "Task error"


def infer_task(peft_task: str | None, rows: Sequence[dict[str, Any]], label_field: str | None) -> str:
    """The task an adapter's PEFT task type and the data suggest; a clear error when unsure."""
    if peft_task == "TOKEN_CLS":
        return "token-classification"
    if peft_task == "CAUSAL_LM":
        return "causal-lm"
    if peft_task == "SEQ_CLS" or (peft_task is None and rows):
        label = label_field or _first_present(rows[0], FIELD_CANDIDATES["label"])
        if label is None:
            raise TaskError("cannot tell the task: pass --task (" + ", ".join(TASKS) + ")")
        if isinstance(rows[0].get(label), list):
            return "token-classification"  # a tag per word
        numbers = [_number(row.get(label)) for row in rows[:500]]
        if all(n is not None for n in numbers) and any(not n.is_integer() for n in numbers if n is not None):
            return "regression"
        pair = _first_present(rows[0], FIELD_CANDIDATES["pair"])
        return "pair-classification" if pair else "classification"
    raise TaskError("cannot tell the task: pass --task (" + ", ".join(TASKS) + ")")


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a number or a numeric string (CSV cells are strings)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _first_present(row: dict[str, Any], names: Sequence[str]) -> str | None:
    return next((name for name in names if name in row), None)


@dataclass(frozen=True)
class Fields:
    text: str
    pair: str | None
    label: str | None

    def names(self) -> list[str | None]:
        return [self.text, self.pair, self.label]


def resolve_fields(
    task: str, row: dict[str, Any], text: str | None, pair: str | None, label: str | None
) -> Fields:
    """The columns to read: as given, else the usual names; an error names what is missing."""
    columns = ", ".join(row)

    def pick(given: str | None, kind: str, option: str) -> str:
        chosen = given or _first_present(row, FIELD_CANDIDATES[kind])
        if chosen is None or chosen not in row:
            raise TaskError(
                f"no {kind} column {given or ''!r} in the dataset (columns: {columns}); pass {option}"
            )
        return chosen

    return Fields(
        text=pick(text, "text", "--text-field"),
        pair=pick(pair, "pair", "--text-pair-field") if task == "pair-classification" else None,
        label=None if task == "causal-lm" else pick(label, "label", "--label-field"),
    )


def label_names_of(dataset: Dataset, fields: Fields, token_level: bool) -> list[str]:
    """The distinct label names of the dataset, sorted (integer labels through the dataset's
    declared names when it has them)."""
    found: set[str] = set()
    for row in dataset.rows:
        values = row[fields.label] if token_level else [row[fields.label]]
        found.update(_name(value, dataset.label_names) for value in values)
    return sorted(found)


def _name(value: Any, declared: Sequence[str] | None) -> str:
    if declared is not None and isinstance(value, int):
        return declared[value]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def head_index(head: Sequence[str], data_names: Sequence[str]) -> dict[str, int]:
    """Dataset label name → head output index. Names must match; a head with default names
    (``LABEL_0`` …) takes integer labels as indices."""
    by_name = {name: index for index, name in enumerate(head)}
    defaults = all(_DEFAULT_LABEL.match(name) for name in head)
    mapping: dict[str, int] = {}
    for name in data_names:
        if name in by_name:
            mapping[name] = by_name[name]
        elif defaults and name.isdigit() and int(name) < len(head):
            mapping[name] = int(name)
        else:
            raise TaskError(
                f"dataset label {name!r} is not one of the head's labels ({', '.join(head)}); "
                "the labels must match by name"
            )
    return mapping


@dataclass
class Task:
    """One task bound to a tokenizer, the dataset's fields and the head's label names."""

    name: str
    tokenizer: Any
    fields: Fields
    head_labels: list[str] = field(default_factory=list)
    declared: list[str] | None = None
    """The dataset's names of integer labels."""
    max_length: int = 128

    def __post_init__(self) -> None:
        self._index = {name: index for index, name in enumerate(self.head_labels)}

    def use_labels(self, data_names: Sequence[str]) -> None:
        """Check the dataset's labels against the head (``head_index``) and keep the mapping."""
        self._index = head_index(self.head_labels, data_names)

    # -- inputs and targets ------------------------------------------------------------------

    def _label(self, value: Any) -> int:
        return self._index[_name(value, self.declared)]

    def encode(self, rows: Sequence[dict[str, Any]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Model inputs and the target tensor for ``rows``."""
        tokenize = {
            "padding": True,
            "truncation": True,
            "max_length": self.max_length,
            "return_tensors": "pt",
        }
        if self.name == "token-classification":
            return self._encode_tokens(rows, tokenize)
        texts = [str(row[self.fields.text]) for row in rows]
        if self.name == "causal-lm":
            encoded = self.tokenizer(texts, **tokenize)
            targets = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, IGNORED)
            return dict(encoded), targets
        pairs = [str(row[self.fields.pair]) for row in rows] if self.fields.pair else None
        encoded = self.tokenizer(texts, pairs, **tokenize)
        if self.name == "regression":
            targets = torch.tensor([float(row[self.fields.label]) for row in rows])
        else:
            targets = torch.tensor([self._label(row[self.fields.label]) for row in rows])
        return dict(encoded), targets

    def _encode_tokens(
        self, rows: Sequence[dict[str, Any]], tokenize: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Words → sub-tokens; each word's tag sits on its first sub-token, the rest are ignored."""
        words = [[str(w) for w in row[self.fields.text]] for row in rows]
        encoded = self.tokenizer(words, is_split_into_words=True, **tokenize)
        targets = torch.full(encoded["input_ids"].shape, IGNORED)
        for index, row in enumerate(rows):
            previous = None
            for position, word in enumerate(encoded.word_ids(index)):
                if word is not None and word != previous:
                    targets[index, position] = self._label(row[self.fields.label][word])
                previous = word
        return {key: value for key, value in encoded.items()}, targets

    # -- training and scoring -------------------------------------------------------------------

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.name == "regression":
            return F.mse_loss(logits[:, 0], targets.float())
        if self.name == "causal-lm":
            return F.cross_entropy(
                logits[:, :-1].flatten(0, 1), targets[:, 1:].flatten(), ignore_index=IGNORED
            )
        if self.name == "token-classification":
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORED)
        return F.cross_entropy(logits, targets)

    def scorer(self) -> Scorer:
        return Scorer(self)


class Scorer:
    """Accumulates (logits, targets) batch by batch; ``scores()`` computes the metrics."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.gold: list[Any] = []
        self.predicted: list[Any] = []
        self.nll = 0.0
        self.tokens = 0

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        logits, targets = logits.float().cpu(), targets.cpu()
        name = self.task.name
        if name == "causal-lm":
            predicted, wanted = logits[:, :-1], targets[:, 1:]
            self.nll += float(
                F.cross_entropy(
                    predicted.flatten(0, 1), wanted.flatten(), ignore_index=IGNORED, reduction="sum"
                )
            )
            self.tokens += int((wanted != IGNORED).sum())
        elif name == "regression":
            self.gold += targets.tolist()
            self.predicted += logits[:, 0].tolist()
        elif name == "token-classification":
            labels = self.task.head_labels
            best = logits.argmax(-1)
            for row in range(targets.shape[0]):
                keep = targets[row] != IGNORED
                self.gold.append([labels[i] for i in targets[row][keep].tolist()])
                self.predicted.append([labels[i] for i in best[row][keep].tolist()])
        else:
            self.gold += targets.tolist()
            self.predicted += logits.argmax(-1).tolist()

    def scores(self) -> dict[str, float]:
        name = self.task.name
        if name == "causal-lm":
            if not self.tokens:
                raise TaskError("no tokens to predict (every text is one token or empty)")
            return metrics.language_model(self.nll, self.tokens)
        if name == "regression":
            return metrics.regression(self.gold, self.predicted)
        if name == "token-classification":
            return metrics.token_classification(self.gold, self.predicted)
        return metrics.classification(self.gold, self.predicted)

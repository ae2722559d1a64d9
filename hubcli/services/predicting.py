"""Predicting: run a base model with a registry adapter (or a composition, or one adapter per
row) on a few inputs, for checking an adapter by eye and comparing numbers with other libraries.

torch and transformers are imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    import torch

    from hubcli.engine import StitchedModel
    from registry import Adapter, Registry

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)


@dataclass(frozen=True)
class PredictRequest:
    """Exactly one of ``texts`` (tokenized with the base's tokenizer) and ``input_ids`` (rows
    of token ids); ``per_row`` ("a,b,-,a") sends row i through adapter i ("-": the base model)."""

    base: str
    adapter: str
    texts: Sequence[str] | None = None
    input_ids: Sequence[Sequence[int]] | None = None
    dtype: str = "float32"
    device: str = "cpu"
    per_row: str | None = None


@dataclass(frozen=True)
class PredictResult:
    base: str
    adapter: str
    architecture: str
    dtype: str
    device: str
    input_shape: list[int]
    output: str
    """``logits`` when the model has a head, else ``last_hidden_state``."""
    shape: list[int]
    values: list[Any]
    """The whole output tensor as nested lists."""
    labels: list[str] = field(default_factory=list)
    """Classification: the predicted label of each row."""
    next_token_ids: list[int] = field(default_factory=list)
    """A language-model head: the predicted next token of each row."""

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        data: dict[str, Any] = {
            "base": self.base,
            "adapter": self.adapter,
            "architecture": self.architecture,
            "dtype": self.dtype,
            "device": self.device,
            "input_shape": self.input_shape,
            "output": self.output,
            "shape": self.shape,
        }
        if self.labels:
            data["labels"] = self.labels
        if self.next_token_ids:
            data["next_token_ids"] = self.next_token_ids
        data["values"] = self.values
        return data


def predict(
    registry: Registry, request: PredictRequest, progress: ProgressCallback = ignore_progress
) -> PredictResult:
    """Stitch the request's adapter onto its base and run the inputs through it."""
    import torch

    progress(Progress("loading the model", detail=request.adapter))
    stitched, record = stitch_for_predict(registry, request)
    if request.input_ids is not None:
        pad_id = getattr(stitched.model.config, "pad_token_id", None) or 0
        ids, mask = _batch([list(row) for row in request.input_ids], pad_id)
    else:
        ids, mask = _tokenize(request.base, list(request.texts or []))
    progress(Progress("predicting", total=int(ids.shape[0])))
    output = stitched.forward(ids, mask)
    kind = "logits" if output.get("logits") is not None else "last_hidden_state"
    values = output[kind].to(torch.float32).cpu()
    labels: list[str] = []
    next_tokens: list[int] = []
    if kind == "logits" and values.dim() == 2:
        names = _label_names(record.labels, stitched.model.config, values.shape[1])
        labels = [names[i] for i in values.argmax(dim=-1).tolist()]
    elif kind == "logits" and values.dim() == 3:  # a language-model head: the predicted next token
        last = mask.sum(dim=1).cpu() - 1
        next_tokens = values[torch.arange(values.shape[0]), last].argmax(dim=-1).tolist()
    return PredictResult(
        base=request.base,
        adapter=request.adapter,
        architecture=record.architecture,
        dtype=request.dtype,
        device=request.device,
        input_shape=list(ids.shape),
        output=kind,
        shape=list(values.shape),
        values=values.tolist(),
        labels=labels,
        next_token_ids=next_tokens,
    )


def stitch_for_predict(registry: Registry, request: PredictRequest) -> tuple[StitchedModel, Adapter]:
    """(the stitched model, the registry entry whose labels name the outputs): the adapter as
    an adapter name, a spec or a recipe, or with ``per_row`` one adapter per row."""
    from hubcli.compose.setup import per_row as route_per_row
    from hubcli.compose.spec import AdapterRef, Block
    from hubcli.plugin_api import SpecError
    from hubcli.services.stitching import checked, resolve_spec, stitch_model

    base, adapter, options = request.base, request.adapter, {"dtype": request.dtype, "device": request.device}
    if request.per_row is None:
        tree = checked(registry, resolve_spec(registry, adapter)[0]).root
        stitched, _ = stitch_model(registry, base, tree, **options)
        return stitched, registry.get_adapter(next(tree.adapters()))
    rows = [None if name.strip() in ("-", "") else name.strip() for name in request.per_row.split(",")]
    names = list(dict.fromkeys(name for name in rows if name is not None))
    if not names:
        raise SpecError("--per-row: name at least one adapter ('-' rows run the base model)")
    tree = checked(registry, Block("stack", tuple(AdapterRef(n) for n in names))).root
    stitched, _ = stitch_model(registry, base, tree, **options)
    route_per_row(stitched, rows)
    return stitched, registry.get_adapter(adapter if adapter in names else names[0])


def _batch(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and the attention mask that hides the padding."""
    import torch

    width = max(len(row) for row in rows)
    ids = torch.tensor([row + [pad_id] * (width - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    return ids, mask


def _tokenize(base: str, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    from transformers import AutoTokenizer

    from hubcli.plugin_api import HubcliError

    folder = Path(base)
    # transformers 5 builds an empty-vocabulary tokenizer from config.json alone: refuse that.
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise HubcliError(
            f"no tokenizer files in {base} (e.g. tokenizer.json): pass --input-ids instead of --text"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as exc:
        raise HubcliError(
            f"no tokenizer for {base!r} ({str(exc).splitlines()[0]}): pass --input-ids instead of --text"
        ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = tokenizer(texts, return_tensors="pt", padding=True)
    return encoded["input_ids"], encoded["attention_mask"]


def _label_names(adapter_labels: list[str] | None, config: Any, count: int) -> list[str]:
    if adapter_labels and len(adapter_labels) == count:
        return list(adapter_labels)
    id2label = getattr(config, "id2label", None) or {}
    if len(id2label) == count:
        return [str(id2label[i]) for i in range(count)]
    return [str(i) for i in range(count)]

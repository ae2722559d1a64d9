"""``hubcli predict``: run a base model with one registry adapter on a few inputs.

Meant for checking an adapter by eye and for comparing numbers with other libraries: ``--json``
prints the complete output tensor. torch and transformers are imported inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit

app = typer.Typer()


def parse_input_ids(text: str) -> list[list[int]]:
    """``'[[2, 15, 27], [4, 5]]'`` → rows of token ids (a flat list is one row)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--input-ids") from None
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        value = [value]
    if not (
        isinstance(value, list)
        and value
        and all(
            isinstance(row, list) and row and all(isinstance(v, int) and v >= 0 for v in row) for row in value
        )
    ):
        raise typer.BadParameter(
            "expected a JSON list of lists of non-negative token ids, e.g. '[[2, 15, 27]]'",
            param_hint="--input-ids",
        )
    return value


def _batch(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """Right-padded ids and the attention mask that hides the padding."""
    import torch

    width = max(len(row) for row in rows)
    ids = torch.tensor([row + [pad_id] * (width - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    return ids, mask


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def _tokenize(base: str, texts: list[str]) -> tuple[Any, Any]:
    from transformers import AutoTokenizer

    from hubcli.errors import HubcliError

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


@app.command()
def predict(
    base: Annotated[str, typer.Argument(help="Base model: a Hub model id or a local model folder.")],
    adapter: Annotated[
        str,
        typer.Argument(
            help="Adapter name, as `hubcli list` shows it (or a composition spec, or a saved recipe)."
        ),
    ],
    text: Annotated[
        list[str] | None, typer.Option("--text", help="Input text (repeatable); needs the base's tokenizer.")
    ] = None,
    input_ids: Annotated[
        str | None, typer.Option("--input-ids", help="Token ids as JSON, e.g. '[[2, 15, 27]]'.")
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float32, bfloat16 or float16.")] = "float32",
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    per_row: Annotated[
        str | None, typer.Option("--per-row", help="One adapter per input row, e.g. 'a,b,-,a' ('-': none).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run BASE with ADAPTER on --text or --input-ids; print shapes and labels, or (--json)
    the whole output tensor: logits when the model has a head, else the last hidden state."""
    if (text is None) == (input_ids is None):
        raise typer.BadParameter("give either --text or --input-ids (exactly one)")
    rows = parse_input_ids(input_ids) if input_ids is not None else None
    if dtype not in ("float32", "bfloat16", "float16"):
        raise typer.BadParameter(f"unknown dtype {dtype!r}", param_hint="--dtype")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise typer.BadParameter(f"unknown device {device!r}", param_hint="--device")

    import torch

    from hubcli.cli.stitch import stitch_for_predict

    registry = state.registry()
    stitched, record = stitch_for_predict(registry, base, adapter, per_row, dtype=dtype, device=device)
    if rows is not None:
        ids, mask = _batch(rows, getattr(stitched.model.config, "pad_token_id", None) or 0)
    else:
        ids, mask = _tokenize(base, text or [])
    output = stitched.forward(ids, mask)
    kind = "logits" if output.get("logits") is not None else "last_hidden_state"
    values = output[kind].to(torch.float32).cpu()
    data: dict[str, Any] = {
        "base": base,
        "adapter": adapter,
        "architecture": record.architecture,
        "dtype": dtype,
        "device": device,
        "input_shape": list(ids.shape),
        "output": kind,
        "shape": list(values.shape),
    }
    if kind == "logits" and values.dim() == 2:
        names = _label_names(record.labels, stitched.model.config, values.shape[1])
        data["labels"] = [names[i] for i in values.argmax(dim=-1).tolist()]
    elif kind == "logits" and values.dim() == 3:  # a language-model head: the predicted next token
        last = mask.sum(dim=1).cpu() - 1
        data["next_token_ids"] = values[torch.arange(values.shape[0]), last].argmax(dim=-1).tolist()
    data["values"] = values.tolist()

    def render(d: dict[str, Any]) -> None:
        console.print(f"{d['base']} + {d['adapter']} ({d['architecture']}), {d['dtype']} on {d['device']}")
        console.print(f"input ids {tuple(d['input_shape'])} → {d['output']} {tuple(d['shape'])}")
        for row, label in enumerate(d.get("labels", [])):
            console.print(f"  [{row}] {label}")
        for row, token in enumerate(d.get("next_token_ids", [])):
            console.print(f"  [{row}] next token id {token}")

    emit(data, as_json, render)

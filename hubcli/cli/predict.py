"""``hubcli predict``: run a base model with one registry adapter on a few inputs.

Meant for checking an adapter by eye and for comparing numbers with other libraries: ``--json``
prints the complete output tensor. The work is ``hubcli.services.predicting``'s; this module
parses the options and prints.
"""

from __future__ import annotations

import json
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

    from hubcli.services.predicting import PredictRequest
    from hubcli.services.predicting import predict as run_prediction

    request = PredictRequest(
        base, adapter, texts=text, input_ids=rows, dtype=dtype, device=device, per_row=per_row
    )
    result = run_prediction(state.registry(), request)

    def render(d: dict[str, Any]) -> None:
        console.print(f"{d['base']} + {d['adapter']} ({d['architecture']}), {d['dtype']} on {d['device']}")
        console.print(f"input ids {tuple(d['input_shape'])} → {d['output']} {tuple(d['shape'])}")
        for row, label in enumerate(d.get("labels", [])):
            console.print(f"  [{row}] {label}")
        for row, token in enumerate(d.get("next_token_ids", [])):
            console.print(f"  [{row}] next token id {token}")

    emit(result.as_dict(), as_json, render)

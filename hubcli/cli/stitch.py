"""``hubcli stitch BASE SPEC``: check a composition against the registry, stitch it into a base
model, and keep the result: a saved recipe (``--save``), a reloadable bundle (``--out``) or plain
merged weights (``--out --merge``). ``hubcli list --compositions`` lists the saved recipes.

SPEC is what ``hubcli.services.stitching`` reads (the text or JSON form, a recipe name, a JSON
file); this module parses the options into a ``StitchRequest`` and prints the result, a bad
spec with a caret under the offending column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit, err_console, print_error

app = typer.Typer()


@app.command()
def stitch(
    base: Annotated[str, typer.Argument(help="Base model: a Hub model id or a local model folder.")],
    spec: Annotated[
        str,
        typer.Argument(
            help="Composition, e.g. 'stack(a, parallel(b, c))', its JSON form, a recipe name, or a JSON file (also AdapterHub's adapter_setup.json)."
        ),
    ],
    save: Annotated[
        str | None, typer.Option("--save", help="Store the recipe in the registry under this name.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write a reloadable stitched bundle (or, with --merge, a plain model) here."
        ),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option("--merge", help="With --out: fold the adapters into the weights (LoRA, IA³ stacks)."),
    ] = False,
    fusion: Annotated[
        Path | None,
        typer.Option(
            "--fusion",
            help="With --out: trained fusion (AdapterHub or hubcli files) for the spec's fuse block.",
        ),
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float32, bfloat16 or float16.")] = "float32",
    as_json: JsonFlag = False,
) -> None:
    """Check SPEC against the registry and stitch it into BASE."""
    if merge and out is None:
        raise typer.BadParameter("--merge needs --out DIR", param_hint="--merge")
    if fusion is not None and (out is None or merge):
        raise typer.BadParameter(
            "--fusion goes with --out DIR (a bundle, not --merge)", param_hint="--fusion"
        )
    from hubcli.compose.text import SpecSyntaxError, caret
    from hubcli.plugin_api import SpecError
    from hubcli.services.stitching import StitchRequest
    from hubcli.services.stitching import stitch as stitch_spec

    request = StitchRequest(base, spec, save=save, out=out, merge=merge, fusion=fusion, dtype=dtype)
    try:
        result = stitch_spec(state.registry(), request)
    except SpecError as exc:
        if exc.column is None:  # not from the text form: nothing to point at
            raise
        # shown with the caret, which the one-line error of other commands would lose
        headline = (
            f"{exc.problem} at column {exc.column + 1}" if isinstance(exc, SpecSyntaxError) else exc.message
        )
        print_error(headline)
        err_console.print(caret(spec, exc.column), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None

    def render(d: dict[str, Any]) -> None:
        console.print(f"{d['base']} + {d['spec']}")
        for adapter in d["adapters"]:
            console.print(f"  {adapter['name']} ({adapter['architecture']})")
        if "saved" in d:
            console.print(f"saved recipe {d['saved']!r}")
        if "out" in d:
            console.print(f"wrote {'merged model' if d['merged'] else 'stitched bundle'} to {d['out']}")

    emit(result.as_dict(), as_json, render)


def list_recipes(as_json: bool) -> None:
    """The stitch recipes saved with `hubcli stitch … --save NAME` (`hubcli list --compositions`)."""
    from hubcli.services.stitching import recipes

    rows = [
        {"name": c.name, "base_model": c.base_model, "spec": c.spec, "created_at": c.created_at}
        for c in recipes(state.registry())
    ]

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            console.print("no recipes (save one with `hubcli stitch BASE SPEC --save NAME`)")
        for item in items:
            console.print(f"{item['name']}  {item['base_model']}  {item['spec']}")

    emit(rows, as_json, render)

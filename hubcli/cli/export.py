"""``hubcli export NAME DIR [--format peft|adapterhub]``: write a registered adapter to a folder.

In its stored format the stored files are copied as they are (``hubcli add DIR`` gives the same
adapter back); another format is converted by the architecture plugin where both libraries
compute the same function (docs/export.md). The work is ``hubcli.services.exporting``'s (torch
is imported only for a conversion); this module parses and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hubcli.cli.context import state
from hubcli.cli.output import JsonFlag, console, emit

app = typer.Typer()


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="Adapter name, as `hubcli list` shows it.")],
    folder: Annotated[Path, typer.Argument(help="Folder to write (created; must be empty if it exists).")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="peft or adapterhub (default: the stored format).")
    ] = None,
    model_type: Annotated[
        str | None,
        typer.Option(
            "--model-type", help="Base model type (bert, llama …) when the adapter's files lack it."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write an adapter's files to a folder, in its own format or converted to the other one."""
    from hubcli.services.exporting import export_adapter

    result = export_adapter(state.registry(), name, folder, fmt, model_type=model_type)

    def render(d: dict[str, Any]) -> None:
        how = f"converted from {d['stored_format']}" if d["converted"] else "as stored"
        console.print(
            f"[green]✓[/] exported {d['name']} to {d['folder']}: {d['format']} format ({how}), "
            f"{len(d['files'])} files"
        )

    emit(result.as_dict(), as_json, render)

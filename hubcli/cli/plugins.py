"""`hubcli plugins`: what is installed, from metadata; loads them only with --check."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from hubcli.cli.output import JsonFlag, console, emit


def plugins(
    check: Annotated[bool, typer.Option("--check", help="Import every plugin to find broken ones.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List plugins (architectures, compositions, model families, commands)."""
    from hubcli.discovery import manager
    from hubcli.plugin_api import PLUGIN_API_VERSION

    if check:
        for kind in ("architecture", "composition", "model", "command"):
            manager.load_all(kind)
    rows = [info.as_dict() for info in manager.infos()]

    def render(rows: list[dict[str, Any]]) -> None:
        table = Table(
            box=None, header_style="bold", title=f"plugin API {PLUGIN_API_VERSION}", title_justify="left"
        )
        for column in ("kind", "name", "distribution", "version", "api", "status"):
            table.add_column(column)
        colours = {"loaded": "green", "broken": "red", "disabled": "yellow"}
        for row in rows:
            status = row["status"] + (f": {row['error']}" if row["error"] else "")
            colour = colours.get(row["status"], "")
            table.add_row(
                row["kind"],
                row["name"],
                row["distribution"],
                row["version"],
                "" if row["api_version"] is None else str(row["api_version"]),
                f"[{colour}]{status}[/]" if colour else status,
            )
        console.print(table)

    emit(rows, as_json, render)

"""Output helpers shared by every command: JSON for machines, rich for people.

Commands build plain data (dicts and lists) and hand it to ``emit``; with ``--json`` it is
printed as JSON on stdout, otherwise the command's own renderer draws it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``data`` as JSON, or hand it to ``render`` for humans."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=_default, ensure_ascii=False) + "\n")
    else:
        render(data)

"""Output helpers shared by every command: JSON for machines, rich for people.

Commands build plain data (dicts and lists) and hand it to ``emit``; with ``--json`` it is
printed as JSON on stdout, otherwise the command's own renderer draws it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from hubcli.secrets import redact

if TYPE_CHECKING:
    from hubcli.progress import Progress, ProgressCallback

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_error(message: str, hint: str = "") -> None:
    """The one place an error is shown: ``Error: <message><hint>`` on one line (libraries'
    messages may span lines), tokens blanked (``hubcli.secrets``), outside text escaped."""
    one_line = redact(" ".join(message.split()))
    err_console.print(f"[red]Error:[/] {escape(one_line)}{escape(hint)}", soft_wrap=True)


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


@contextmanager
def counted_progress(stage: str) -> Iterator[ProgressCallback]:
    """A progress callback drawing a transient rich bar on stderr for the events of ``stage``
    (a stage with a count, such as batches run); a service's other stages pass silently."""
    from rich.progress import Progress as Bars

    with Bars(console=err_console, transient=True) as bars:
        task = bars.add_task(stage, total=None)

        def report(event: Progress) -> None:
            if event.stage == stage:
                bars.update(task, completed=event.done, total=event.total)

        yield report

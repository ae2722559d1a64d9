"""A rich progress bar with throughput, drawn on stderr so ``--json`` output stays clean: how
``hubcli eval`` and ``hubcli train`` draw the ``hubcli.progress.Progress`` events of their
services (rows or steps counted)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Rows (or steps) per second."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(
            f"{speed:,.1f} {self.unit}/s" if speed else f"– {self.unit}/s", style="progress.data.speed"
        )


def progress_bar(unit: str, *, quiet: bool = False) -> Progress:
    """A bar: description, bar, done/total, rate, elapsed time; ``quiet`` draws nothing."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
        disable=quiet,
        transient=False,
    )

"""Progress of long work, as plain events: what every use case in ``hubcli.services`` reports.

A service takes a ``ProgressCallback`` and calls it with ``Progress`` events; the CLI turns them
into rich bars on stderr, the TUI into rows of its jobs panel. Keeping the event a plain value
is what lets one service serve both front ends (and tests) without knowing how it is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One step of a long operation.

    ``stage`` is a short phrase ("downloading", "importing", "training" …); ``done`` and
    ``total`` count its unit (bytes for transfers, rows, steps; ``total`` None when unknown),
    both 0 for a stage without a count.
    """

    stage: str
    done: int = 0
    total: int | None = None
    detail: str = ""


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The default callback: no output."""

"""hubcli's terminal UI (Textual).

Only this package and the CLI command that launches it import textual, so ``hubcli --help``,
``list`` and ``show`` stay fast. ``launch`` is the one entry point the CLI calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry import Registry


def launch(registry: Registry) -> None:
    """Run the TUI on ``registry`` until the user quits."""
    from hubcli.tui.app import HubcliApp

    HubcliApp(registry).run()

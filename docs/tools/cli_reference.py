"""The ``--help`` reference of every command, generated into ``docs/cli-reference.md``.

Regenerate with ``python docs/tools/cli_reference.py --write``; ``tests/test_cli_reference.py``
fails when the file is out of date, so the docs never drift from the code (an idea from
datasette's documentation tests). A development tool, kept out of the runtime package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "cli-reference.md"
WIDTH = 100


def _help(args: list[str]) -> str:
    from typer.testing import CliRunner

    from hubcli.cli import app

    env = {"COLUMNS": str(WIDTH), "TERM": "dumb", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    result = CliRunner().invoke(app, [*args, "--help"], env=env, terminal_width=WIDTH)
    return "\n".join(line.rstrip() for line in result.stdout.strip().splitlines())


def _command_names() -> list[str]:
    import typer

    from hubcli.cli import app

    group = typer.main.get_group(app)
    return [name for name, command in group.commands.items() if not command.hidden]


def render() -> str:
    """The whole reference as Markdown."""
    os.environ.setdefault("HUBCLI_HOME", "/nonexistent-hubcli-home")
    parts = [
        "# Command reference",
        "",
        "Generated from the code by `python docs/tools/cli_reference.py --write`; a test checks it is current.",
        "",
        "## hubcli",
        "",
        "```",
        _help([]),
        "```",
    ]
    for name in _command_names():
        parts += ["", f"## hubcli {name}", "", "```", _help([name]), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    text = render()
    if "--write" in sys.argv:
        REFERENCE.write_text(text)
    else:
        sys.stdout.write(text)

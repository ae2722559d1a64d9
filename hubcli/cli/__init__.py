"""The ``hubcli`` command line: one typer app, one module per noun.

Import-light by design: this module and the command modules import only typer/rich at module
level; torch, transformers, huggingface_hub and textual are imported inside the commands that
need them (a test asserts it for ``--help``, ``list`` and ``show``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer
from typer.core import TyperGroup

from hubcli import __version__
from hubcli.cli import adapters, compare, demo, evaluate, export, hub, merge, plugins, predict, stitch, train
from hubcli.cli.context import state
from hubcli.cli.output import err_console, print_error
from hubcli.secrets import redact


class _OneLineUsageErrors(TyperGroup):
    """Usage errors (unknown option, missing argument, a value of the wrong type, a
    ``typer.BadParameter`` of ours) as one line ``Error: … (see `hubcli CMD --help`)`` and exit
    code 1, like every other error. click's own rendering is a boxed usage block and exit code
    2, which the project does not promise (docs/reliability.md)."""

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[no-untyped-def]
        """``hubcli --bogus``: the top level's own options fail before ``invoke``."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except typer.TyperException as exc:
            self._usage_error(exc)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        """A sub-command's parsing and its callbacks run inside the group's ``invoke``."""
        try:
            return super().invoke(ctx)
        except typer.TyperException as exc:
            self._usage_error(exc)

    def _usage_error(self, exc: typer.TyperException) -> NoReturn:
        """Print ``exc`` as one line and exit 1. Help shown for a command given no arguments
        is not an error and passes through; ``HUBCLI_DEBUG=1`` shows click's own rendering."""
        from typer._click.exceptions import NoArgsIsHelpError

        if isinstance(exc, NoArgsIsHelpError) or os.environ.get("HUBCLI_DEBUG"):
            raise exc
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else self.name or "hubcli"
        print_error(exc.format_message(), f" (see `{command} --help`)")
        raise typer.Exit(1) from None


class _HubcliGroup(_OneLineUsageErrors):
    """The top-level group: errors as one line, and commands from plugins.

    hubcli's and the registry's errors become ``Error: <message>`` and exit code 1
    (``HUBCLI_DEBUG=1`` shows the traceback instead). Plugins of the ``hubcli.commands`` group
    (a ``typer.Typer`` each) are listed from their metadata and imported only when their
    command runs or ``--help`` describes it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from hubcli.discovery import manager

        own = super().list_commands(ctx)
        return own + [name for name in manager.names("command") if name not in own]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        from hubcli.discovery import manager
        from hubcli.plugin_api import PluginError

        if name not in manager.names("command"):
            return None
        try:
            plugin = manager.load("command", name)
        except PluginError:
            return None  # reported on stderr and by `hubcli plugins`
        return typer.main.get_command(plugin)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from hubcli.plugin_api import HubcliError
        from registry.errors import RegistryError

        try:
            return super().invoke(ctx)
        except (HubcliError, RegistryError) as exc:
            if os.environ.get("HUBCLI_DEBUG"):
                _print_traceback()
            else:
                print_error(exc.message)
            raise typer.Exit(1) from None
        finally:
            state.close()


def _print_traceback() -> None:
    """``HUBCLI_DEBUG=1``: the traceback of the error being handled, tokens blanked."""
    import traceback

    err_console.print(redact(traceback.format_exc()), markup=False, highlight=False, soft_wrap=True)


app = typer.Typer(
    cls=_HubcliGroup,
    name="hubcli",
    help="Keep, browse, stitch, evaluate and share trained adapters (PEFT and AdapterHub).",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hubcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", envvar="HUBCLI_HOME", help="Registry folder (blobs, SQLite database)."),
    ] = None,
    registry_url: Annotated[
        str | None,
        typer.Option(
            "--registry-url",
            envvar="HUBCLI_DATABASE_URL",
            help="Database URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in --home).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    state.home = home
    state.url = registry_url
    if ctx.invoked_subcommand is None:
        tui()


def tui() -> None:
    """Open the terminal UI (also what `hubcli` with no command does)."""
    from hubcli.tui import launch

    launch(state.registry())


# One module per noun; their commands sit at the top level (``hubcli add``, ``hubcli pull`` …),
# in this order in ``--help``.
for _module in (adapters, hub, predict, merge, compare, stitch, evaluate, train, demo, export):
    app.registered_commands.extend(_module.app.registered_commands)
app.command("plugins")(plugins.plugins)
app.command("tui")(tui)


def main() -> None:
    """Console-script entry."""
    app()

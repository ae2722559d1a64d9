"""Every command refuses bad usage the way every other error is refused: one line on stderr,
``Error: …`` naming the problem and the command's ``--help``, exit code 1, nothing on stdout
(issue 19, item 7). The walk covers every command the CLI has, plugins' commands included, so a
new command is covered the day it is added."""

from __future__ import annotations

import pytest
import typer

from hubcli.cli import app


def _commands(group, path=()):  # type: ignore[no-untyped-def]
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = list(_commands(typer.main.get_command(app)))
WITH_REQUIRED = [(path, command) for path, command in COMMANDS if any(p.required for p in command.params)]


def _refused_in_one_line(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=" ".join)
def test_an_unknown_option_is_one_line(cli, path):
    result = cli(*path, "--no-such-option")
    _refused_in_one_line(result, "No such option: --no-such-option", f"`hubcli {' '.join(path)} --help`")


@pytest.mark.parametrize("path", [path for path, _ in WITH_REQUIRED], ids=" ".join)
def test_a_missing_argument_is_one_line(cli, path):
    _refused_in_one_line(cli(*path), "Missing ")


def test_an_unknown_command_or_top_level_option_is_one_line(cli):
    _refused_in_one_line(cli("no-such-command"), "No such command 'no-such-command'", "`hubcli --help`")
    _refused_in_one_line(cli("--no-such-option"), "No such option: --no-such-option")


BAD_VALUES = [
    (("list", "--limit", "x"), "--limit"),
    (("list", "--sort", "nosuch"), "nosuch"),
    (("merge", "a", "b", "--name", "c", "--density", "x"), "--density"),
    (("merge", "a", "b", "--name", "c", "--weights", "x"), "--weights"),
    (("merge", "a", "b", "--name", "c", "--method", "nosuch"), "nosuch"),
    (("compare", "a", "b", "--metric", "manhattan"), "--metric"),
    (("eval", "t", "--dataset", "d", "--batch-size", "0"), "--batch-size"),
    (("eval", "t", "--dataset", "d", "--limit", "-3"), "--limit"),
    (
        ("train", "--base", "x", "--dataset", "y", "--name", "z", "--arch", "lora", "--epochs", "-1"),
        "--epochs",
    ),
    (("train", "--base", "x", "--dataset", "y", "--name", "z"), "--arch"),
    (("predict", "b", "a", "--dtype", "float7", "--input-ids", "[[1]]"), "float7"),
    (("predict", "b", "a"), "Error"),
    (("search", "--limit", "0"), "--limit"),
    (("similar", "a", "--top", "-1"), "--top"),
    (("demo", "--steps", "-1"), "--steps"),
    (("show", "nosuch"), "nosuch"),
    (("add", "/nonexistent-hubcli-folder"), "/nonexistent-hubcli-folder"),
]


@pytest.mark.parametrize(
    ("args", "word"), BAD_VALUES, ids=lambda value: " ".join(value) if isinstance(value, tuple) else ""
)
def test_a_bad_value_is_one_line(cli, args, word):
    _refused_in_one_line(cli(*args), word)

"""Executed documentation: the ```console blocks of README.md and docs/ that run ``hubcli``.

``collect`` finds every fenced block with lines starting ``$ hubcli`` (they must be ``console``
blocks) and parses it into commands and the output each one shows; ``DocRunner`` runs them in
order against a prepared world (``tests/helpers/docs_worlds.py``) and reports every command whose
exit code or output differs from the page. The rules are written down for authors in
docs/development.md, "Executed documentation".
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/*.md", "docs/examples/*/README.md")
WIDTH = 160
"""The terminal width the commands print for (rich tables and wrapped lines)."""
ELLIPSIS = "…"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[^\s`]*)")
_MARKER = re.compile(r"\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*")
"""A marker is an HTML comment on a line of its own (prose may quote one in backticks)."""
_RUNS_HUBCLI = re.compile(r"^\s*\$ hubcli", re.M)
_SKIP = re.compile(r"skip\s*(?:[—–:-]+\s*)?(?P<reason>.*)")
_ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)", re.S)


class DocsFormatError(Exception):
    """A page breaks the rules (a non-console block that runs hubcli, a marker without a reason …)."""


@dataclass
class Command:
    doc: str
    line: int
    text: str
    """The command as written after ``$ ``, continuation lines joined."""
    shown: list[str]
    """The output lines the page shows under it (possibly none)."""

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def expected_exit_code(self) -> int:
        first = next((line.strip() for line in self.shown if line.strip()), "")
        return 1 if first.startswith("Error:") else 0


@dataclass
class Block:
    doc: str
    line: int
    lang: str
    commands: list[Command]
    skip: str | None = None
    """The reason given by a ``<!-- docs-test: skip — reason -->`` marker, if any."""


def documents(root: Path = ROOT) -> list[str]:
    """The pages whose examples run, relative to the repository root."""
    found: set[str] = set()
    for pattern in DOCUMENTS:
        found.update(str(path.relative_to(root)) for path in root.glob(pattern))
    return sorted(found, key=lambda doc: (doc != "README.md", doc))


def runs_hubcli(text: str) -> bool:
    """Whether a page has lines starting with ``$ hubcli`` (in blocks that must then run)."""
    return _RUNS_HUBCLI.search(text) is not None


def parse_blocks(text: str, doc: str) -> list[Block]:
    """The fenced blocks of ``text`` that hold ``$ hubcli`` lines.

    Raises ``DocsFormatError`` for such a block that is not ``console``, for a skip marker
    without a reason, and for a marker that is not right above such a block."""
    lines = text.splitlines()
    blocks: list[Block] = []
    markers: dict[int, str] = {}  # line index of the marker -> its reason
    index = 0
    while index < len(lines):
        marker = _MARKER.fullmatch(lines[index])
        if marker:
            skip = _SKIP.fullmatch(marker["body"])
            if skip is None:
                raise DocsFormatError(f"{doc}:{index + 1}: unknown docs-test marker {marker[0]!r}")
            if not skip["reason"].strip():
                raise DocsFormatError(
                    f"{doc}:{index + 1}: a docs-test skip marker needs a reason: <!-- docs-test: skip — why -->"
                )
            markers[index] = skip["reason"].strip()
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, lang = len(opening["indent"]), opening["fence"], opening["lang"]
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not (
            lines[index].strip().startswith(fence[0] * len(fence))
            and not lines[index].strip().strip(fence[0])
        ):
            line = lines[index]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            index += 1
        index += 1  # the closing fence
        if not any(line.startswith("$ hubcli") for line in body):
            continue
        if lang != "console":
            raise DocsFormatError(
                f"{doc}:{start + 1}: a block with `$ hubcli` lines must be a ```console block (it is "
                f"{'a ```' + lang if lang else 'a plain ```'} block): such blocks run as tests"
            )
        block = Block(doc, start + 1, lang, _commands(body, doc, start + 2))
        if start - 1 in markers:
            block.skip = markers.pop(start - 1)
        blocks.append(block)
    if markers:
        first = min(markers)
        raise DocsFormatError(
            f"{doc}:{first + 1}: a docs-test marker must be on the line right above a ```console block "
            "that runs hubcli"
        )
    return blocks


def _commands(body: list[str], doc: str, first_line: int) -> list[Command]:
    commands: list[Command] = []
    index = 0
    while index < len(body):
        line = body[index]
        if not line.startswith("$ "):
            if line.strip():
                raise DocsFormatError(f"{doc}:{first_line + index}: output before the first `$ ` command")
            index += 1
            continue
        start = index
        text = line[2:]
        while text.rstrip().endswith("\\") and index + 1 < len(body):
            index += 1
            text = text.rstrip()[:-1].rstrip() + " " + body[index].strip()
        index += 1
        shown = []
        while index < len(body) and not body[index].startswith("$ "):
            shown.append(body[index])
            index += 1
        while shown and not shown[-1].strip():
            shown.pop()
        commands.append(Command(doc, first_line + start, text.strip(), shown))
    return commands


def collect(doc: str, root: Path = ROOT) -> list[Block]:
    return parse_blocks((root / doc).read_text(encoding="utf-8"), doc)


# -- comparing output ------------------------------------------------------------------------------


def normalise(line: str) -> str:
    """A line with runs of whitespace collapsed and the ends stripped (rich pads table cells)."""
    return " ".join(line.split())


def _line_pattern(shown: str) -> str:
    return ".*".join(re.escape(part) for part in shown.split(ELLIPSIS))


def output_matches(shown: list[str], actual: str) -> bool:
    """Whether ``actual`` is what ``shown`` shows: line by line after ``normalise``, blank lines
    ignored; ``…`` inside a line stands for any text, a line that is only ``…`` for any number of
    lines (also none)."""
    pattern = []
    for line in shown:
        wanted = normalise(line)
        if not wanted:
            continue
        pattern.append(r"(?:.*\n)*?" if wanted == ELLIPSIS else _line_pattern(wanted) + r"\n")
    lines = [normalise(line) for line in actual.splitlines()]
    text = "".join(line + "\n" for line in lines if line)
    return re.fullmatch("".join(pattern), text) is not None


def _diff(shown: list[str], actual: str) -> str:
    """A unified diff of the shown and printed lines, where a printed line that matches the next
    shown line (``…`` included) is written as that shown line, so only real differences show."""
    wanted = [normalise(line) for line in shown if line.strip()]
    printed = [normalise(line) for line in actual.splitlines() if line.strip()]
    aligned, index = [], 0
    for line in printed:
        while index < len(wanted) and wanted[index] == ELLIPSIS:
            index += 1
        if index < len(wanted) and re.fullmatch(_line_pattern(wanted[index]), line):
            aligned.append(wanted[index])
            index += 1
        else:
            aligned.append(line)
    diff = difflib.unified_diff(wanted, aligned, "shown in the page", "printed", lineterm="", n=2)
    return "\n".join(list(diff)[2:])


# -- a small shell -----------------------------------------------------------------------------------


def split_line(text: str) -> list[list[str]]:
    """``text`` without its comment, cut into ``&&``-separated lists of ``|``-separated stages,
    outside quotes and ``$( )``."""
    chains: list[list[str]] = [[]]
    current = []
    quote: str | None = None
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            current.append(char)
            if char == "\\" and quote == '"' and index + 1 < len(text):
                current.append(text[index + 1])
                index += 1
            elif char == quote:
                quote = None
        elif char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 1
        elif char in "'\"":
            quote = char
            current.append(char)
        elif text.startswith("$(", index):
            depth += 1
            current.append("$(")
            index += 1
        elif char == ")" and depth:
            depth -= 1
            current.append(char)
        elif depth:
            current.append(char)
        elif char == "#" and (index == 0 or text[index - 1].isspace()):
            break
        elif text.startswith("&&", index):
            chains[-1].append("".join(current).strip())
            chains.append([])
            current = []
            index += 1
        elif char == "|" and not text.startswith("||", index):
            chains[-1].append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    chains[-1].append("".join(current).strip())
    return chains


@dataclass
class Outcome:
    exit_code: int
    output: str
    """What a terminal would show: stderr and stdout as printed."""
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    """A traceback, when the command raised instead of exiting."""


@dataclass
class World:
    """Where a page's commands run: a working directory and the variables the page uses."""

    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    """Set for every command (HUBCLI_HOME, HF_HUB_CACHE, $BASE …), on top of the process's."""

    def shell_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env


def _project_name(pyproject: Path) -> str:
    """``[project] name`` of a pyproject.toml (a regex: tomllib is Python ≥ 3.11)."""
    match = re.search(r'^\[project\][^\[]*?^name\s*=\s*"([^"]+)"', pyproject.read_text(), re.M | re.S)
    if match is None:
        raise DocsFormatError(f"{pyproject}: no [project] name")
    return match[1]


class DocRunner:
    """Runs commands the way the page shows them: ``hubcli`` in process through typer's
    ``CliRunner`` (the real CLI, without a new interpreter per line), other programs with bash."""

    def __init__(self, world: World) -> None:
        self.world = world

    # One command line ------------------------------------------------------------------------------

    def run_line(self, text: str) -> Outcome:
        outputs: list[str] = []
        outcome = Outcome(0, "")
        for stages in split_line(text):
            outcome = self._run_pipeline([stage for stage in stages if stage] or [""])
            outputs.append(outcome.output)
            if outcome.exit_code != 0:
                break
        outcome.output = "".join(outputs)
        return outcome

    def _run_pipeline(self, stages: list[str]) -> Outcome:
        first = stages[0]
        assignment = _ASSIGNMENT.fullmatch(first)
        if assignment and len(stages) == 1 and " " not in assignment["name"]:
            return self._assign(assignment["name"], assignment["value"])
        words = self.expand(first)
        if words[:1] == ["hubcli"]:
            outcome = self.hubcli(words[1:])
            if len(stages) == 1:
                return outcome
            piped = self.bash(" | ".join(stages[1:]), stdin=outcome.stdout)
            return Outcome(
                piped.exit_code, outcome.stderr + piped.output, piped.stdout, piped.stderr, outcome.error
            )
        if words[:2] == ["pip", "install"] and len(stages) == 1:
            return self._installed(words[2:])
        return self.bash(" | ".join(stages))

    def _assign(self, name: str, value: str) -> Outcome:
        value = value.strip()
        if value.startswith("$(") and value.endswith(")"):
            inner = self.run_line(value[2:-1])
            if inner.exit_code != 0:
                return inner
            self.world.env[name] = inner.stdout.rstrip("\n")
        else:
            words = self.expand(value)
            self.world.env[name] = " ".join(words)
        return Outcome(0, "")

    def _installed(self, arguments: list[str]) -> Outcome:
        """``pip install -e DIR`` is checked, not run: the distribution must be installed (the
        suite's setup installs the example plugins; a test does not change the environment)."""
        folders = [arguments[i + 1] for i, word in enumerate(arguments[:-1]) if word in ("-e", "--editable")]
        if not folders or len(folders) * 2 != len(arguments):
            return Outcome(1, "docs test: only `pip install -e DIR` lines are understood\n")
        for folder in folders:
            where = self.world.cwd / folder
            project = _project_name((where if where.is_dir() else ROOT / folder) / "pyproject.toml")
            try:
                importlib.metadata.distribution(project)
            except importlib.metadata.PackageNotFoundError:
                return Outcome(1, f"{project} is not installed (make setup installs it)\n")
        return Outcome(0, "")

    def expand(self, text: str) -> list[str]:
        """The words of a simple command after quote removal and ``$VAR`` expansion, by bash."""
        result = subprocess.run(
            ["bash", "-c", f"printf '%s\\0' {text}"],
            cwd=self.world.cwd,
            env=self.world.shell_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.split("\0")[:-1]

    def bash(self, text: str, stdin: str | None = None) -> Outcome:
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", text],
            cwd=self.world.cwd,
            env=self.world.shell_env(),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Outcome(result.returncode, result.stderr + result.stdout, result.stdout, result.stderr)

    def hubcli(self, arguments: list[str]) -> Outcome:
        from typer.testing import CliRunner

        from hubcli.cli import app

        with self._terminal():
            result = CliRunner().invoke(app, arguments, env=self.world.env, catch_exceptions=True)
        error = None
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            error = "".join(traceback.format_exception(result.exception))
        return Outcome(result.exit_code, result.output, result.stdout, result.stderr, error)

    @contextmanager
    def _terminal(self) -> Iterator[None]:
        """The working directory, and a terminal WIDTH columns wide for hubcli's consoles."""
        from hubcli.cli import output

        consoles = (output.console, output.err_console)
        widths = [console._width for console in consoles]
        previous = Path.cwd()
        os.chdir(self.world.cwd)
        for console in consoles:
            console.width = WIDTH
        try:
            yield
        finally:
            os.chdir(previous)
            for console, width in zip(consoles, widths, strict=True):
                console._width = width

    # A page -----------------------------------------------------------------------------------------

    def check(self, command: Command) -> str | None:
        """None when the command does what the page shows, else what differs."""
        started = time.perf_counter()
        outcome = self.run_line(command.text)
        if os.environ.get("DOCS_TEST_PRINT"):  # for authors: what each command printed
            seconds = time.perf_counter() - started
            print(
                f"\n{command.where}\n$ {command.text}\n{outcome.output}[exit {outcome.exit_code}, {seconds:.1f} s]"
            )
        problems = []
        if outcome.exit_code != command.expected_exit_code:
            problems.append(f"exit code {outcome.exit_code}, the page implies {command.expected_exit_code}")
        if command.shown and not output_matches(command.shown, outcome.output):
            problems.append("output differs:\n" + _diff(command.shown, outcome.output))
        elif not command.shown and outcome.exit_code != 0:
            problems.append("output:\n" + outcome.output.rstrip())
        if outcome.error:
            problems.append(outcome.error.rstrip())
        if not problems:
            return None
        return f"{command.where}: $ {command.text}\n" + "\n".join(problems)

    def run_blocks(self, blocks: list[Block]) -> list[str]:
        """Every block in order, every command in order; the failures, one message each."""
        failures = []
        for block in blocks:
            if block.skip:
                continue
            for command in block.commands:
                failure = self.check(command)
                if failure:
                    failures.append(failure)
        return failures

"""The one-line text form of a composition: ``stack(a, parallel(b, c))``,
``average(a, b, weights=[0.7, 0.3])``, ``split(a, b, sizes=[64, 64])``.

A tokenizer and a recursive-descent parser, so that every error names the column where reading
stopped (with a caret under it) instead of failing somewhere inside string splitting.

Grammar (whitespace between tokens is ignored)::

    node  := NAME | NAME "(" [item ("," item)* [","]] ")"
    item  := node | NAME "=" value
    value := NUMBER | NAME | "[" [NUMBER ("," NUMBER)* [","]] "]"

NAME is a bare word (letters, digits and ``_ . - / @ : +``) or a double-quoted string with
``\\"`` and ``\\\\`` escapes, for adapter names that are not bare words. A NAME followed by "("
is a block (block names are bare words); anything else is an adapter. A NAME as a value names
a registry entry (``fuse(a, b, fusion=ab)``); a name that reads as a number must be quoted. Keyword arguments may come anywhere among the children.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hubcli.compose.spec import AdapterRef, ArgValue, Block, Node
from hubcli.plugin_api import SpecError

BARE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/@:+]*")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
PUNCTUATION = "(),=[]"
MAX_NESTING = 64
"""Parser guard against stack exhaustion; validation applies the real (smaller) depth limit."""


class SpecSyntaxError(SpecError):
    """Text that is not a composition; ``column`` (0-based) is where reading stopped."""

    def __init__(self, text: str, column: int, problem: str) -> None:
        self.text = text
        self.problem = problem
        super().__init__(f"{problem} at column {column + 1}\n{caret(text, column)}", column)


def caret(text: str, column: int) -> str:
    """Two lines: ``text`` (whitespace shown as spaces, so columns line up) and a caret under
    ``column``."""
    shown = "".join(" " if char.isspace() else char for char in text)
    return f"  {shown}\n  {' ' * column}^"


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "string", one of PUNCTUATION, or "end"
    text: str
    column: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in PUNCTUATION:
            tokens.append(Token(char, char, i))
            i += 1
        elif char == '"':
            value, end = _read_string(text, i)
            tokens.append(Token("string", value, i))
            i = end
        elif (bare := BARE_NAME.match(text, i)) or (bare := NUMBER.match(text, i)):
            tokens.append(Token("name", bare.group(), i))
            i = bare.end()
        else:
            raise SpecSyntaxError(text, i, f"unexpected character {char!r}")
    tokens.append(Token("end", "", len(text)))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in '"\\':
                raise SpecSyntaxError(text, i, 'only \\" and \\\\ may be escaped in a quoted name')
            out.append(text[i + 1])
            i += 2
        else:
            out.append(char)
            i += 1
    raise SpecSyntaxError(text, start, "unterminated quoted name")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.position + offset, len(self.tokens) - 1)]

    def fail(self, token: Token, expected: str) -> SpecSyntaxError:
        found = "the end" if token.kind == "end" else repr(token.text)
        return SpecSyntaxError(self.text, token.column, f"expected {expected}, found {found}")

    def take(self, kind: str, expected: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise self.fail(token, expected)
        self.position += 1
        return token

    def node(self) -> Node:
        token = self.peek()
        if token.kind not in ("name", "string"):
            raise self.fail(token, "an adapter name or a block")
        self.position += 1
        if token.kind == "string" or self.peek().kind != "(":
            if not token.text:
                raise SpecSyntaxError(self.text, token.column, "an adapter name cannot be empty")
            return AdapterRef(token.text, token.column)
        if self.depth >= MAX_NESTING:
            raise SpecSyntaxError(self.text, token.column, f"blocks nested more than {MAX_NESTING} deep")
        self.position += 1
        self.depth += 1
        children: list[Node] = []
        args: dict[str, ArgValue] = {}
        while self.peek().kind != ")":
            if self.peek().kind == "name" and self.peek(1).kind == "=":
                key = self.take("name", "an argument name")
                if key.text in args:
                    raise SpecSyntaxError(self.text, key.column, f"argument {key.text!r} given twice")
                self.position += 1
                args[key.text] = self.value()
            else:
                children.append(self.node())
            if self.peek().kind != ",":
                break
            self.position += 1
        self.take(")", "',' or ')'")
        self.depth -= 1
        return Block(token.text, tuple(children), args, token.column)

    def number(self) -> int | float:
        token = self.peek()
        match = NUMBER.fullmatch(token.text) if token.kind == "name" else None
        if match is None:
            raise self.fail(token, "a number")
        self.position += 1
        text = token.text
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        number = float(text)
        if not math.isfinite(number):
            raise SpecSyntaxError(self.text, token.column, f"number {text} is out of range")
        return number

    def value(self) -> ArgValue:
        token = self.peek()
        if token.kind == "string" or (token.kind == "name" and not NUMBER.fullmatch(token.text)):
            if not token.text:
                raise SpecSyntaxError(self.text, token.column, "a name cannot be empty")
            self.position += 1
            return token.text
        if token.kind != "[":
            return self.number()
        self.position += 1
        items: list[int | float] = []
        while self.peek().kind != "]":
            items.append(self.number())
            if self.peek().kind != ",":
                break
            self.position += 1
        self.take("]", "',' or ']'")
        return tuple(items)


def parse(text: str) -> Node:
    """The tree of a one-line spec; ``SpecSyntaxError`` with the column of the first problem."""
    parser = _Parser(text)
    node = parser.node()
    parser.take("end", "the end of the spec")
    return node


def _format_name(name: str) -> str:
    if BARE_NAME.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_value(value: ArgValue) -> str:
    if isinstance(value, str):  # quoted when it would read back as a number
        return _format_name(value) if not NUMBER.fullmatch(value) else '"' + value + '"'
    if isinstance(value, tuple):
        return "[" + ", ".join(repr(item) for item in value) + "]"
    return repr(value)


def format_spec(node: Node) -> str:
    """The one-line text of a tree; ``parse(format_spec(t)) == t`` for every valid tree."""
    if isinstance(node, AdapterRef):
        return _format_name(node.name)
    parts = [format_spec(child) for child in node.children]
    parts += [f"{key}={_format_value(value)}" for key, value in node.args.items()]
    return f"{node.kind}({', '.join(parts)})"

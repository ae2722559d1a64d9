"""The composition spec as data: a tree of adapter names and blocks, with a JSON form.

A composition is data so that it can be saved (registry recipes, stitched bundles), printed,
parsed back and validated before any model is loaded. The tree knows nothing about torch or
about what a block means; block plugins (``hubcli.compositions``) give it meaning.

JSON form: an adapter is its name (a string); a block is an object
``{"block": "split", "children": [...], "args": {"sizes": [64, 64]}}`` (``args`` omitted when
empty). Argument values are numbers, lists of numbers, or names (strings: a registry entry
such as ``fuse``'s ``fusion=NAME``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hubcli.plugin_api.errors import SpecError

BLOCK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""Block names are identifiers, so the text form can tell ``stack(`` from an adapter name."""

ArgValue = int | float | str | tuple[int | float, ...]


@dataclass(frozen=True)
class AdapterRef:
    """A leaf of the tree: one attached adapter, by name."""

    name: str
    column: int | None = field(default=None, compare=False)
    """Where the name starts in the text it was parsed from (for error messages)."""

    def adapters(self) -> Iterator[str]:
        yield self.name

    def depth(self) -> int:
        return 0


@dataclass(frozen=True)
class Block:
    """An inner node: a composition block applied to its children."""

    kind: str
    children: tuple[Node, ...]
    args: dict[str, ArgValue] = field(default_factory=dict, hash=False)
    column: int | None = field(default=None, compare=False)
    """Where the block name starts in the text it was parsed from (for error messages)."""

    def adapters(self) -> Iterator[str]:
        """Adapter names below this block, left to right (repeats included)."""
        for child in self.children:
            yield from child.adapters()

    def depth(self) -> int:
        """Blocks on the longest path down (a block over adapters has depth 1)."""
        return 1 + max((child.depth() for child in self.children), default=0)


Node = AdapterRef | Block


def to_json(node: Node) -> Any:
    if isinstance(node, AdapterRef):
        return node.name
    data: dict[str, Any] = {"block": node.kind, "children": [to_json(c) for c in node.children]}
    if node.args:
        data["args"] = {k: list(v) if isinstance(v, tuple) else v for k, v in node.args.items()}
    return data


def _number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{where}: expected a finite number, got {value!r}")
    return value


def _arg_from_json(value: Any, where: str) -> ArgValue:
    if isinstance(value, str):
        if not value:
            raise SpecError(f"{where}: a name cannot be empty")
        return value
    if isinstance(value, list):
        return tuple(_number(item, where) for item in value)
    return _number(value, where)


def from_json(data: Any, where: str = "spec") -> Node:
    """The tree of a JSON value (as ``to_json`` writes it); ``SpecError`` naming the bad part."""
    if isinstance(data, str):
        if not data:
            raise SpecError(f"{where}: an adapter name cannot be empty")
        return AdapterRef(data)
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected an adapter name or a block object, got {data!r}")
    unknown = set(data) - {"block", "children", "args"}
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)} (allowed: block, children, args)")
    kind, children, args = data.get("block"), data.get("children"), data.get("args", {})
    if not isinstance(kind, str) or not BLOCK_NAME.fullmatch(kind):
        raise SpecError(f"{where}: 'block' must be a block name (a bare word), got {kind!r}")
    if not isinstance(children, list):
        raise SpecError(f"{where}: block {kind!r} needs a 'children' list")
    if not isinstance(args, dict):
        raise SpecError(f"{where}: 'args' of block {kind!r} must be an object")
    return Block(
        kind,
        tuple(from_json(child, f"{where}.{kind}[{i}]") for i, child in enumerate(children)),
        {str(k): _arg_from_json(v, f"{where}.{kind}.{k}") for k, v in args.items()},
    )

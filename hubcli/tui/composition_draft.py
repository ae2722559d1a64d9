"""The stitch composer's working tree: a mutable composition built one pick at a time.

``hubcli.compose.spec`` trees are immutable and carry text columns; the composer needs a tree it
can grow and prune in place. ``check`` turns the draft into the one-line spec and runs hubcli's
own parser and validator on that text, so the errors (and their columns) are exactly those
``hubcli stitch`` would report for the same spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hubcli.compose.spec import AdapterRef, ArgValue, Block, Node
from hubcli.compose.text import format_spec, parse
from hubcli.compose.validate import validate
from hubcli.plugin_api import SpecError


@dataclass(eq=False)
class DraftAdapter:
    """A leaf; compared by identity, since the same adapter may appear twice."""

    name: str


@dataclass(eq=False)
class DraftBlock:
    kind: str
    children: list[DraftNode] = field(default_factory=list)
    args: dict[str, ArgValue] = field(default_factory=dict)


DraftNode = DraftAdapter | DraftBlock


class DraftError(Exception):
    """A pick that cannot go where it was asked to (shown as a warning, not an error dialog)."""


def to_node(draft: DraftNode) -> Node:
    if isinstance(draft, DraftAdapter):
        return AdapterRef(draft.name)
    return Block(draft.kind, tuple(to_node(child) for child in draft.children), dict(draft.args))


def parse_args(kind: str, text: str) -> dict[str, ArgValue]:
    """Block arguments typed as in the text form (``sizes=[2, 2]``), read by hubcli's parser."""
    if not text.strip():
        return {}
    node = parse(f"{kind}({text})")
    assert isinstance(node, Block)
    if node.children:
        raise SpecError("arguments only here: name=value, separated by commas")
    return node.args


@dataclass
class Checked:
    """The draft's spec text and, when it is not valid, hubcli's message and column."""

    text: str
    problem: str | None = None
    column: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.text) and self.problem is None


class CompositionDraft:
    def __init__(self) -> None:
        self.root: DraftNode | None = None

    def parent_of(self, node: DraftNode) -> DraftBlock | None:
        def search(block: DraftBlock) -> DraftBlock | None:
            for child in block.children:
                if child is node:
                    return block
                if isinstance(child, DraftBlock) and (found := search(child)) is not None:
                    return found
            return None

        return search(self.root) if isinstance(self.root, DraftBlock) else None

    def add(self, item: DraftNode, at: DraftNode | None) -> None:
        """Put ``item`` into the block ``at`` (or into the block holding the adapter ``at``);
        a block added over a lone adapter wraps it."""
        if self.root is None:
            self.root = item
            return
        if isinstance(self.root, DraftAdapter):
            if isinstance(item, DraftAdapter):
                raise DraftError("add a block first: adapters go inside blocks")
            item.children.append(self.root)
            self.root = item
            return
        target = at if isinstance(at, DraftBlock) else (self.parent_of(at) if at is not None else None)
        (target or self.root).children.append(item)

    def remove(self, node: DraftNode) -> None:
        """Drop ``node`` and what is below it."""
        if node is self.root:
            self.root = None
        elif (parent := self.parent_of(node)) is not None:
            parent.children.remove(node)

    def check(self, architectures: Mapping[str, str]) -> Checked:
        if self.root is None:
            return Checked("")
        text = format_spec(to_node(self.root))
        try:
            validate(parse(text), architectures)
        except SpecError as exc:
            return Checked(text, exc.message.split("\n")[0], exc.column)
        return Checked(text)

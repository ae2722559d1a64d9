"""Checking a composition tree against the installed plugins, before any model is loaded.

Every problem is reported as a ``SpecError`` naming the block, the adapter and, for an
architecture that cannot take part in a block, both of them. Import-light: plugins are loaded
through discovery, torch is never imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubcli import discovery
from hubcli.compose.spec import AdapterRef, Block, Node
from hubcli.plugin_api import CompositionPlugin, PluginError, SpecError

MAX_DEPTH = 4
"""Blocks on one path from the root. ``adapters`` nests at most three deep in practice
(e.g. ``Stack(Parallel(Stack(a, b), c))``); one more level leaves room without inviting trees
nobody can reason about."""


@dataclass
class Validated:
    """A checked tree: each block's plugin and normalised arguments, by block identity."""

    root: Node
    plugins: dict[int, CompositionPlugin] = field(default_factory=dict)
    args: dict[int, dict[str, Any]] = field(default_factory=dict)

    def plugin(self, block: Block) -> CompositionPlugin:
        return self.plugins[id(block)]

    def arguments(self, block: Block) -> dict[str, Any]:
        return self.args[id(block)]

    def blocks(self) -> list[Block]:
        """Every block of the tree, parents before children."""
        found: list[Block] = []
        pending = [self.root]
        while pending:
            node = pending.pop(0)
            if isinstance(node, Block):
                found.append(node)
                pending.extend(node.children)
        return found

    def adapters(self) -> list[str]:
        """Distinct adapter names, in the order they first appear."""
        return list(dict.fromkeys(self.root.adapters()))


def composition_plugin(kind: str, column: int | None = None) -> CompositionPlugin:
    try:
        return discovery.manager.load("composition", kind)
    except PluginError as exc:
        known = ", ".join(discovery.manager.names("composition")) or "none"
        raise SpecError(f"unknown block {kind!r} (blocks: {known})", column) from exc


def validate(root: Node, architectures: Mapping[str, str] | None = None) -> Validated:
    """Check ``root``: known blocks, arity, arguments, nesting, depth, at most one batch-
    replicating block (on the stack path from the root), and — when ``architectures`` maps
    every adapter to its architecture — that every architecture supports every block above it."""
    result = Validated(root)
    if root.depth() > MAX_DEPTH:
        raise SpecError(f"blocks nest {root.depth()} deep; the limit is {MAX_DEPTH}", _too_deep(root).column)
    _check(root, result)
    replicating = [b for b in result.blocks() if result.plugin(b).replicates_batch]
    if len(replicating) > 1:
        raise SpecError(f"at most one {replicating[0].kind} block per composition", replicating[1].column)
    if replicating:
        _check_replicating_path(root, replicating[0], result)
    if architectures is not None:
        _check_architectures(root, architectures, [])
    return result


def _check(node: Node, result: Validated) -> None:
    if isinstance(node, AdapterRef):
        return
    plugin = composition_plugin(node.kind, node.column)
    count = len(node.children)
    if count < plugin.min_children or (plugin.max_children is not None and count > plugin.max_children):
        most = "" if plugin.max_children is None else f" and at most {plugin.max_children}"
        noun = "child" if (plugin.max_children or plugin.min_children) == 1 else "children"
        raise SpecError(
            f"{node.kind}: takes at least {plugin.min_children}{most} {noun}, got {count}", node.column
        )
    result.plugins[id(node)] = plugin
    try:
        result.args[id(node)] = plugin.check_arguments(node.args, count)
    except SpecError as exc:  # plugins do not know where the block is written
        exc.column = node.column if exc.column is None else exc.column
        raise
    for child in node.children:
        if isinstance(child, Block) and plugin.nests is not None and child.kind not in plugin.nests:
            allowed = ", ".join(sorted(plugin.nests)) or "no blocks"
            raise SpecError(
                f"{node.kind} cannot contain {child.kind} (it may contain: {allowed})", child.column
            )
        _check(child, result)


def _check_replicating_path(root: Node, block: Block, result: Validated) -> None:
    """The replicating block must sit on a chain of stacks from the root: everything above it
    then sees every replica, so repeating the inputs up front is exact."""
    node = root
    while node is not block:
        if not isinstance(node, Block) or node.kind != "stack":
            raise SpecError(
                f"{block.kind} may only be the outermost block or inside stack blocks", block.column
            )
        inner = [c for c in node.children if isinstance(c, Block) and any(n is block for n in _subtree(c))]
        node = inner[0]


def _too_deep(node: Node, depth: int = 0) -> Node:
    """The first block below the depth limit (where the caret goes)."""
    if isinstance(node, Block) and depth >= MAX_DEPTH:
        return node
    for child in node.children if isinstance(node, Block) else ():
        if child.depth() + depth + 1 > MAX_DEPTH:
            return _too_deep(child, depth + 1)
    return node


def _subtree(node: Node) -> list[Node]:
    nodes = [node]
    if isinstance(node, Block):
        for child in node.children:
            nodes.extend(_subtree(child))
    return nodes


def _check_architectures(node: Node, architectures: Mapping[str, str], blocks: list[str]) -> None:
    if isinstance(node, Block):
        for child in node.children:
            _check_architectures(child, architectures, [*blocks, node.kind])
        return
    if node.name not in architectures:
        known = ", ".join(sorted(architectures)) or "none"
        raise SpecError(f"adapter {node.name!r} is not attached (attached: {known})", node.column)
    architecture = architectures[node.name]
    plugin = discovery.architecture(architecture)
    for kind in blocks:
        like = composition_plugin(kind).supported_like
        if not plugin.supports_composition(kind) and not (like and plugin.supports_composition(like)):
            raise SpecError(
                f"architecture {architecture!r} (adapter {node.name!r}) does not support the {kind!r} block",
                node.column,
            )

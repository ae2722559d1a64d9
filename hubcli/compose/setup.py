"""The tree-aware setup: runs a validated composition at every insertion point of a
``StitchedModel``.

``CompositionSetup`` replaces the engine's flat ``ActiveSetup`` (the documented seam in
``hubcli.engine.slots``) in the model and in every slot, block slot and head. At each insertion
point it wraps what flows there in a ``Routed`` state (``hubcli.compose.states``) and walks the
tree: an adapter applies itself, a block plugin routes through its children. Children without
a module at that point are the identity, and a composition that reduces to a flat stack there
takes the engine's own code path, so the common cases cost nothing extra.

``parallel`` repeats the model's inputs once per child in a forward pre-hook on the model
(before the embeddings), so every layer — adapted or not — sees the replicated batch; the
block then hands child i its share of rows. ``outputs_per_child`` cuts the result back.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from hubcli.compose.spec import AdapterRef, Block, Node, from_json
from hubcli.compose.states import BlockState, HeadState, LeafState
from hubcli.compose.text import parse
from hubcli.compose.validate import Validated, validate
from hubcli.engine.slots import ActiveSetup, AdapterSlot
from hubcli.engine.stitched import StitchedModel
from hubcli.plugin_api import Child, Routed, SpecError

BATCHED_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds", "labels")


class CompositionSetup(ActiveSetup):
    """A composition tree in place of the flat list of active adapters."""

    def __init__(self, spec: Validated, owned: Mapping[int, Any]) -> None:
        super().__init__(spec.adapters())
        self.spec = spec
        self.owned = dict(owned)
        """Block identity → what its plugin built (e.g. fusion layers)."""
        self.flat = _is_flat_stack(spec.root)
        self._views: dict[tuple[int, tuple[str, ...]], dict[tuple[str, int], Any]] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    @names.setter
    def names(self, value: Sequence[str]) -> None:
        """``StitchedModel.activate`` sets a flat list: from then on this is a plain stack."""
        self._names = tuple(value)
        self.flat = True

    def replicas(self) -> int:
        """How many times ``parallel`` repeats the batch (1 without it)."""
        if self.flat:
            return 1
        blocks = [b for b in self.spec.blocks() if self.spec.plugin(b).replicates_batch]
        return len(blocks[0].children) if blocks else 1

    # -- walking the tree ---------------------------------------------------------------------

    def _view(self, available: Mapping[str, Any]) -> dict[tuple[str, int], Any]:
        """Per insertion-point memo (keyed by its adapter names, so attaching or detaching an
        adapter starts a new one): which subtrees have a module there and the children lists
        of the blocks. Per-row batches name many adapters, and rebuilding these at every
        projection of every forward pass would cost more than the low-rank products."""
        key = (id(available), tuple(available.keys()))
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = {}
        return view

    def _present(self, node: Node, available: Mapping[str, Any]) -> bool:
        view = self._view(available)
        key = ("present", id(node))
        if key not in view:
            view[key] = any(name in available for name in node.adapters())
        return view[key]

    def _children(self, node: Block, available: Mapping[str, Any]) -> list[Child]:
        view = self._view(available)
        key = ("children", id(node))
        if key not in view:
            view[key] = [
                Child(
                    child.name if isinstance(child, AdapterRef) else None,
                    self._present(child, available),
                    partial(self._run, child, available),
                )
                for child in node.children
            ]
        return view[key]

    def _run(self, node: Node, available: Mapping[str, Any], state: Routed) -> Routed:
        if isinstance(node, AdapterRef):
            return state.apply(node.name)
        children = self._children(node, available)
        plugin = self.spec.plugin(node)
        return plugin.route(state, children, self.spec.arguments(node), self.owned.get(id(node)))

    # -- the seam: what slots, block slots and heads call -----------------------------------

    def leaf_forward(self, slot: AdapterSlot, x: torch.Tensor) -> torch.Tensor:
        if self.flat or not self._present(self.spec.root, slot.adapters):
            return super().leaf_forward(slot, x)
        state = LeafState(slot, x, slot.base(x))
        return self._run(self.spec.root, slot.adapters, state).y  # type: ignore[attr-defined]

    def block_forward(self, slot: Any, block: Any) -> Any:
        if self.flat or not self._present(self.spec.root, slot.adapters):
            return super().block_forward(slot, block)
        state = self._run(self.spec.root, slot.adapters, BlockState(slot, block.h, block))
        if state.last is None:  # type: ignore[attr-defined]
            return None
        return slot.adapters[state.last].finish(state.hidden, block)  # type: ignore[attr-defined]

    def head_forward(
        self, copies: Mapping[str, nn.Module], default: nn.Module, *args: Any, **kwargs: Any
    ) -> Any:
        if self.flat or kwargs or len(args) != 1 or not self._present(self.spec.root, copies):
            return super().head_forward(copies, default, *args, **kwargs)
        features = args[0]
        start = HeadState(copies, features, None if default is None else default(features))  # type: ignore[arg-type]
        return self._run(self.spec.root, copies, start).out  # type: ignore[attr-defined]


def _is_flat_stack(root: Node) -> bool:
    """A single adapter or a stack of adapters: the engine's flat setup computes it already."""
    if isinstance(root, AdapterRef):
        return True
    return root.kind == "stack" and all(isinstance(c, AdapterRef) for c in root.children)


def _routed_adapters(node: Node) -> list[str]:
    """Adapters below a block other than stack (those the blocks route to some rows, tokens
    or replicas only)."""
    if isinstance(node, AdapterRef):
        return []
    if node.kind != "stack":
        return list(node.adapters())
    return [name for child in node.children for name in _routed_adapters(child)]


def read_spec(spec: str | Node | Mapping[str, Any]) -> Node:
    """A tree from the text form, the JSON form (a dict) or a tree."""
    if isinstance(spec, str):
        return parse(spec)
    if isinstance(spec, Mapping):
        return from_json(dict(spec))
    return spec


def _use(stitched: StitchedModel, setup: ActiveSetup) -> None:
    """Make ``setup`` the one every slot, block slot and head of ``stitched`` asks."""
    stitched.setup = setup
    for owner in [*stitched.slots.values(), *stitched.heads.values(), *stitched.blocks.values()]:
        owner.setup = setup
    if stitched.task_heads is not None:
        stitched.task_heads.setup = setup


_replication_hooks: weakref.WeakKeyDictionary[nn.Module, RemovableHandle] = weakref.WeakKeyDictionary()
"""Model → the pre-hook that repeats its inputs for ``parallel`` (one at most)."""


def _replicate_inputs(
    setup: CompositionSetup, _module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    count = setup.replicas()
    if count == 1:
        return None
    if args:
        kwargs = {"input_ids": args[0], **kwargs}
    repeated = {
        key: value.repeat(count, *([1] * (value.dim() - 1)))
        if key in BATCHED_INPUTS and torch.is_tensor(value)
        else value
        for key, value in kwargs.items()
    }
    return (), repeated


def _set_replication(stitched: StitchedModel, setup: CompositionSetup | None) -> None:
    old = _replication_hooks.pop(stitched.model, None)
    if old is not None:
        old.remove()
    if setup is not None and setup.replicas() > 1:
        # before the engine's own input hook, so that prompts and prefixes see every replica
        hook = stitched.model.register_forward_pre_hook(
            partial(_replicate_inputs, setup), with_kwargs=True, prepend=True
        )
        _replication_hooks[stitched.model] = hook


def activate(stitched: StitchedModel, spec: str | Node | Mapping[str, Any]) -> CompositionSetup:
    """Validate ``spec`` against the adapters attached to ``stitched`` and run it from now on.

    Refused: adapters that work on the model's inputs (prefix and prompt tuning) anywhere but
    on the chain of stacks from the root (the engine prepares inputs for every row alike), and
    compositions other than a plain stack while adapters are merged."""
    validated = validate(read_spec(spec), stitched.architectures)
    flat = _is_flat_stack(validated.root)
    routed = set(_routed_adapters(validated.root))
    inputs = [name for name in validated.adapters() if name in stitched.input_adapters and name in routed]
    if inputs:
        raise SpecError(
            f"adapter {inputs[0]!r} works on the model's inputs (prefix/prompt); it can only be "
            "stacked from the outermost block, not routed by split, batch_split, parallel, average or fuse"
        )
    if stitched.merged and not flat:
        raise SpecError(f"adapter {stitched.merged[0]!r} is merged into the base weights: unmerge it first")
    dropped = [name for name in stitched.merged if name not in validated.adapters()]
    if dropped:
        raise SpecError(
            f"adapter {dropped[0]!r} is merged into the base weights: keep it active or unmerge it"
        )
    owned = {}
    for block in validated.blocks():
        names = [c.name if isinstance(c, AdapterRef) else "" for c in block.children]
        built = validated.plugin(block).build(names, validated.arguments(block), stitched)
        if built is not None:
            owned[id(block)] = built
    setup = CompositionSetup(validated, owned)
    _use(stitched, setup)
    _set_replication(stitched, setup)
    return setup


def deactivate(stitched: StitchedModel) -> None:
    """Back to the engine's flat setup with nothing active."""
    _set_replication(stitched, None)
    _use(stitched, ActiveSetup(stitched.merged))


def outputs_per_child(output: Any, setup: CompositionSetup) -> list[dict[str, torch.Tensor]]:
    """A parallel composition's output cut into one output per child (batch-sized tensors)."""
    count = setup.replicas()
    return [
        {key: value.chunk(count)[i] for key, value in output.items() if torch.is_tensor(value)}
        for i in range(count)
    ]


def per_row(stitched: StitchedModel, rows: Sequence[str | None]) -> CompositionSetup:
    """Run row i of the next batches through adapter ``rows[i]`` (None: the base model), rows
    in any order: ``batch_split`` over the distinct names with a ``rows`` assignment."""
    names = list(dict.fromkeys(name for name in rows if name is not None))
    if not names:
        raise SpecError("per-row routing needs at least one adapter name")
    assignment = [names.index(name) if name is not None else -1 for name in rows]
    return activate(
        stitched, Block("batch_split", tuple(AdapterRef(n) for n in names), {"rows": tuple(assignment)})
    )

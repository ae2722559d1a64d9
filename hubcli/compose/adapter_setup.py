"""Compositions saved by the ``adapters`` library (``adapter_setup.json``, ``to_dict()`` form)
as hubcli trees that give the same numbers.

``{"type": "Stack", "children": [{"type": "single", "children": ["a"]}, …], "kwargs": {…}}``.
Split's ``splits`` and BatchSplit's ``batch_sizes`` become ``sizes``. ``adapters``' Average
divides by N once more than hubcli's, so ``Average(a, b, weights=w)`` becomes
``average(a, b, weights=w/N, normalize=0)`` — the same output. A Stack of LoRAs stays a stack:
``adapters`` chains LoRAs where hubcli adds them, a difference no conversion can hide
(docs/compositions.md).
"""

from __future__ import annotations

from typing import Any

from hubcli.compose.spec import AdapterRef, Block, Node
from hubcli.plugin_api import SpecError

BLOCKS = {
    "Stack": "stack",
    "Parallel": "parallel",
    "Average": "average",
    "Split": "split",
    "BatchSplit": "batch_split",
    "Fuse": "fuse",
}


def from_adapterhub(data: Any) -> Node:
    """The hubcli tree of an ``adapters`` composition dict (or a bare adapter name)."""
    if isinstance(data, str):
        return AdapterRef(data)
    if not isinstance(data, dict) or "type" not in data:
        raise SpecError(f"not an adapters composition: {data!r}")
    kind, children, kwargs = data["type"], data.get("children", []), data.get("kwargs") or {}
    if kind == "single":
        if len(children) != 1 or not isinstance(children[0], str):
            raise SpecError(f"adapters 'single' entry with children {children!r}")
        return AdapterRef(children[0])
    if kind not in BLOCKS:
        raise SpecError(f"adapters block {kind!r} has no hubcli equivalent (known: {', '.join(BLOCKS)})")
    nodes = tuple(from_adapterhub(child) for child in children)
    args: dict[str, Any] = {}
    if kind == "Split":
        args["sizes"] = tuple(kwargs["splits"])
    elif kind == "BatchSplit":
        args["sizes"] = tuple(kwargs["batch_sizes"])
    elif kind == "Average":
        weights = kwargs.get("weights") or [1 / len(nodes)] * len(nodes)
        args = {"weights": tuple(w / len(nodes) for w in weights), "normalize": 0}
    return Block(BLOCKS[kind], nodes, args)

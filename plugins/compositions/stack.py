"""stack: children applied one after the other; the output of one is the input of the next.

At a projection LoRA-like adapters therefore add their changes (W + ΔW₁ + ΔW₂): each one adds
its s·B·A·x, computed from the projection's input, to the running output. ``adapters`` chains
them instead (ΔW₂ applied to ΔW₁'s output); hubcli does not — see docs/compositions.md.
Bottleneck adapters are sequential: adapter 2 transforms adapter 1's output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubcli.plugin_api import Child, CompositionPlugin, Routed


class StackBlock(CompositionPlugin):
    name = "stack"
    api_version = 2
    description = "Children in sequence; LoRA deltas add (W + ΔW₁ + ΔW₂)"

    def route(self, state: Routed, children: Sequence[Child], args: Mapping[str, Any], owned: Any) -> Routed:
        for child in children:
            state = child(state)
        return state

"""parallel: the batch is repeated once per child before the first layer (a pre-hook of the
compose setup), and replica i goes through child i everywhere; the output holds one batch per
child, in child order (``hubcli.compose.setup.outputs_per_child`` cuts it), with each child's
own head where the children carry heads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubcli.plugin_api import BATCH, Child, CompositionError, CompositionPlugin, Routed, route_pieces


class ParallelBlock(CompositionPlugin):
    name = "parallel"
    api_version = 2
    description = "The batch replicated per child; one output (and head) per child"
    min_children = 2
    replicates_batch = True

    def route(self, state: Routed, children: Sequence[Child], args: Mapping[str, Any], owned: Any) -> Routed:
        total, count = state.size(BATCH), len(children)
        if total % count:
            raise CompositionError(f"parallel: a batch of {total} rows is not {count} equal replicas")
        return route_pieces(state, children, [total // count] * count, BATCH, "parallel")

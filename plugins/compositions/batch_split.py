"""batch_split: each row of the batch goes through one child.

Two forms: ``sizes=[2, 2]`` cuts the batch into contiguous slices (``adapters``' BatchSplit);
``rows=[0, 1, -1, 0]`` names the child of every row in any order (-1: no adapter) — multi-
adapter inference, where LoRA projections gather every row's own factors into one batched
product (``hubcli.compose.gathered``) instead of one pass per distinct adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubcli.plugin_api import (
    BATCH,
    Child,
    CompositionPlugin,
    Routed,
    SpecError,
    route_pieces,
    route_rows,
    sizes_argument,
)


class BatchSplitBlock(CompositionPlugin):
    name = "batch_split"
    api_version = 2
    description = "Batch rows through children: contiguous slices (sizes=[…]) or per row (rows=[…])"
    arguments = frozenset({"sizes", "rows"})

    def check_arguments(self, args: Mapping[str, Any], children: int) -> dict[str, Any]:
        checked = super().check_arguments(args, children)
        if ("sizes" in checked) == ("rows" in checked):
            raise SpecError("batch_split: give either sizes=[…] (rows per child) or rows=[…] (child per row)")
        if "sizes" in checked:
            return {"sizes": sizes_argument(self.name, checked, children)}
        rows = checked["rows"]
        if not isinstance(rows, tuple) or not rows:
            raise SpecError(
                "batch_split: rows must be a non-empty list of child numbers, e.g. rows=[0, 1, -1]"
            )
        if not all(isinstance(row, int) and -1 <= row < children for row in rows):
            raise SpecError(
                f"batch_split: rows must be child numbers 0…{children - 1} or -1 (no adapter), got {list(rows)}"
            )
        return {"rows": rows}

    def route(self, state: Routed, children: Sequence[Child], args: Mapping[str, Any], owned: Any) -> Routed:
        if "rows" in args:
            return route_rows(state, children, args["rows"], "batch_split")
        return route_pieces(state, children, args["sizes"], BATCH, "batch_split")

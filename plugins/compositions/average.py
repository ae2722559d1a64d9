"""average: output averaging, Σ wᵢ hᵢ over what the children make of the same input.

Weights default to 1/N and are normalised to sum 1 (``normalize=0`` uses them as given).
``adapters`` divides once more by N (its Average(a, a) ≠ a); hubcli does not. At a projection
the children's changes are mixed (y + Σ wᵢ(yᵢ − y)), so with ``normalize=0`` the base output is
still counted once; at a bottleneck sub-block the children's outputs are mixed as given, which
with weights w/N reproduces ``adapters`` exactly (docs/compositions.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubcli.plugin_api import Child, CompositionPlugin, Routed, SpecError, flag_argument, number_list_argument


class AverageBlock(CompositionPlugin):
    name = "average"
    api_version = 2
    description = "Σ wᵢ hᵢ of the children's outputs (weights=[…], normalised to sum 1)"
    min_children = 2
    arguments = frozenset({"weights", "normalize"})

    def check_arguments(self, args: Mapping[str, Any], children: int) -> dict[str, Any]:
        checked = super().check_arguments(args, children)
        weights = (
            number_list_argument(self.name, "weights", checked, children)
            if "weights" in checked
            else (1.0,) * children
        )
        if flag_argument(self.name, "normalize", checked, default=True):
            total = sum(weights)
            if total <= 0 or any(w < 0 for w in weights):
                raise SpecError(
                    f"average: weights must be non-negative with a positive sum, got {list(weights)}"
                )
            weights = tuple(w / total for w in weights)
        return {"weights": tuple(float(w) for w in weights)}

    def route(self, state: Routed, children: Sequence[Child], args: Mapping[str, Any], owned: Any) -> Routed:
        return state.mix([child(state) for child in children], args["weights"])

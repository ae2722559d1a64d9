"""split: the sequence cut into consecutive pieces of ``sizes`` tokens; piece i goes through
child i at every insertion point (``adapters``' Split). The sizes must add up to the sequence
length of every batch the model sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubcli.plugin_api import (
    SEQUENCE,
    Child,
    CompositionPlugin,
    Routed,
    SpecError,
    route_pieces,
    sizes_argument,
)


class SplitBlock(CompositionPlugin):
    name = "split"
    api_version = 2
    description = "Sequence positions cut into pieces (sizes=[…]), piece i through child i"
    min_children = 2
    arguments = frozenset({"sizes"})

    def check_arguments(self, args: Mapping[str, Any], children: int) -> dict[str, Any]:
        checked = super().check_arguments(args, children)
        if "sizes" not in checked:
            raise SpecError(
                f"split: needs sizes=[…], one token count per child, e.g. sizes=[{', '.join(['64'] * children)}]"
            )
        return {"sizes": sizes_argument(self.name, checked, children)}

    def route(self, state: Routed, children: Sequence[Child], args: Mapping[str, Any], owned: Any) -> Routed:
        return route_pieces(state, children, args["sizes"], SEQUENCE, "split")

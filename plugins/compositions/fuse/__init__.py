"""fuse: AdapterFusion over bottleneck adapters, static or dynamic as AdapterHub defines them.

``fuse(a, b, c)`` (dynamic, ``adapters``' default) or ``fuse(a, b, c, static=1)``. The fusion
layers are created when the composition is activated, one per sub-block where all the fused
adapters sit, freshly initialised; ``fuse(a, b, c, fusion=NAME)`` then loads the registered
fusion NAME (architecture ``fusion``, trained over a, b, c in that order) into them, through
``load_owned`` (``hubcli.services.stitching.load_registered_fusions``). ``fuse.files.load_fusion`` reads
trained ones (AdapterHub files or ours), ``fuse.files.save_fusion`` writes ours,
``fuse.training.train_fusion`` trains them. This module imports no torch (validation loads it); the layers come with ``build``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hubcli.plugin_api import (
    AttachTarget,
    Child,
    CompositionError,
    CompositionPlugin,
    HeadRouted,
    Routed,
    SpecError,
    SubBlockRouted,
    flag_argument,
)


class FuseBlock(CompositionPlugin):
    name = "fuse"
    api_version = 2
    description = (
        "AdapterFusion: attention over the children's outputs (static=1: no value matrix; "
        "fusion=NAME: a registered trained fusion)"
    )
    min_children = 2
    arguments = frozenset({"static", "fusion"})
    nests = frozenset()
    """Adapters only, as the fusion attends over each child's own bottleneck output."""

    def check_arguments(self, args: Mapping[str, Any], children: int) -> dict[str, Any]:
        checked = super().check_arguments(args, children)
        fusion = checked.get("fusion")
        if fusion is not None and not isinstance(fusion, str):
            raise SpecError(
                f"fuse: fusion must name a registered fusion, e.g. fusion=my-fusion, got {fusion!r}"
            )
        return {"static": flag_argument(self.name, "static", checked, default=False), "fusion": fusion}

    def build(self, children: Sequence[str], args: Mapping[str, Any], target: AttachTarget) -> Any:
        from hubcli.plugin_api.formats.fusion import FusionSettings
        from plugins.compositions.fuse.layer import FusionLayers

        names = list(children)
        if len(set(names)) != len(names):
            raise SpecError(f"fuse: an adapter appears twice in fuse({', '.join(names)})")
        blocks = getattr(target, "blocks", {})
        points = {
            where: slot for where, slot in blocks.items() if all(name in slot.adapters for name in names)
        }
        if not points:
            raise SpecError(f"fuse({', '.join(names)}): no sub-block holds all of these adapters")
        like = next(next(iter(points.values())).adapters[names[0]].parameters())
        return FusionLayers(
            names, points, target.dims.hidden_size, FusionSettings.preset(args["static"]), like
        )

    def save_owned(self, owned: Any, folder: Path) -> None:
        from plugins.compositions.fuse.files import save_layers

        save_layers(owned, folder)

    def load_owned(self, owned: Any, folder: Path) -> None:
        from plugins.compositions.fuse.files import load_into

        load_into(owned, folder)

    def route(self, state: Routed, children: Sequence[Child], args: Mapping[str, Any], owned: Any) -> Routed:
        from plugins.compositions.fuse.layer import fuse

        names = [child.name for child in children]
        if isinstance(state, HeadRouted):
            # As in ``adapters``, a fusion's head is its own (named after the fusion), never one
            # of its children's: with none, the model's own head (or none) runs.
            head = getattr(owned, "head", None)
            return state if head is None else state.with_out(head(state.features))
        if not isinstance(state, SubBlockRouted):
            raise CompositionError("fuse only runs at bottleneck sub-blocks")
        if not all(name in state.slot.adapters for name in names):
            raise CompositionError(
                f"fuse({', '.join(map(str, names))}): not every adapter sits at this sub-block"
            )
        return fuse(state, names, owned)  # type: ignore[arg-type]

    def add_head(self, owned: Any, config: Mapping[str, Any]) -> None:
        """A fresh AdapterHub classification head of the fusion's own (``adapters`` names a
        fusion's head after the fusion)."""
        owned.add_head(dict(config))

    def train_owned(
        self,
        owned: Any,
        model: Any,
        batches: Iterable[Mapping[str, Any]],
        loss: Callable[[Any, Mapping[str, Any]], Any],
        *,
        learning_rate: float,
        epochs: int = 1,
        on_step: Callable[[float], None] | None = None,
    ) -> list[float]:
        """AdapterFusion's second stage, with ``adapters``' value regularisation
        (``fuse.training.train_layers``)."""
        from plugins.compositions.fuse.training import train_layers

        return train_layers(
            model, [owned], batches, loss, learning_rate=learning_rate, epochs=epochs, on_step=on_step
        )

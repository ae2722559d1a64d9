"""Running a plugin's adapters in the plugin's own tests: loading a model with registry
adapters and activating a composition, through the kit, so those tests import nothing of hubcli
but ``hubcli.plugin_api`` and ``hubcli.testing``. The engine is imported on the first call (it
imports torch), so the kit stays cheap to import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from hubcli.compose.setup import CompositionSetup
    from hubcli.engine import StitchedModel
    from registry import Registry


def stitch(
    base: str | Path | nn.Module,
    adapters: Sequence[str] = (),
    *,
    registry: Registry | None = None,
    activate: bool = True,
) -> StitchedModel:
    """``base`` (a model, a Hub id or a folder) with the registry adapters ``adapters`` attached
    and, by default, active in the order given — what ``hubcli predict`` runs."""
    from hubcli.engine import load

    return load(base, adapters, registry=registry, activate=activate)


def stitched_model(model: nn.Module) -> StitchedModel:
    """``model`` ready to have adapters attached (``attach``) and activated (``activate``)."""
    from hubcli.engine import StitchedModel

    return StitchedModel(model)


def activate_composition(stitched: StitchedModel, spec: str | Mapping[str, Any]) -> CompositionSetup:
    """Run the composition ``spec`` (text such as ``"sum(a, b)"`` or its JSON form) over the
    adapters attached to ``stitched`` from now on; ``SpecError`` when it does not make sense."""
    from hubcli.compose.setup import activate

    return activate(stitched, spec)

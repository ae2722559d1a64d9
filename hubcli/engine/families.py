"""Finding the model-family plugin of a ``transformers`` model."""

from __future__ import annotations

from hubcli.discovery import manager
from hubcli.plugin_api import ModelFamilyPlugin, ModelMismatchError


def family_for(model_type: str) -> ModelFamilyPlugin:
    """The installed family plugin covering ``model_type``; a one-line error listing the
    installed families (and their model types) when none does."""
    families: dict[str, ModelFamilyPlugin] = manager.load_all("model")
    for family in families.values():
        if model_type in family.model_types:
            return family
    installed = "; ".join(
        f"{name} ({', '.join(family.model_types)})" for name, family in sorted(families.items())
    )
    raise ModelMismatchError(
        f"no model-family plugin covers model_type {model_type!r} (installed: {installed or 'none'})"
    )

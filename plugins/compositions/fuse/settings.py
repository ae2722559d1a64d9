"""AdapterFusion's settings — the keys of ``adapters``' AdapterFusionConfig — shared by the fuse
block (which builds fusion layers from them) and the ``fusion`` architecture (which checks saved
fusion files against them). No torch."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FusionSettings(BaseModel):
    """``adapter_fusion_config.json`` → ``config`` (and the ``config`` of hubcli's own files)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    key: bool = True
    query: bool = True
    value: bool = True
    query_before_ln: bool = False
    regularization: bool = True
    residual_before: bool = False
    temperature: bool = False
    value_before_softmax: bool = True
    value_initialized: bool = True
    dropout_prob: float | None = None

    @classmethod
    def preset(cls, static: bool) -> FusionSettings:
        """``adapters``' "static" (no value matrix, no regularisation) or "dynamic" (default)."""
        if static:
            return cls(value=False, regularization=False, value_initialized=False)
        return cls()

    def parameters(self) -> set[str]:
        """The tensor names (``query.weight`` …) one fusion layer with these settings has."""
        names = set()
        if self.query:
            names |= {"query.weight", "query.bias"}
        if self.key:
            names |= {"key.weight", "key.bias"}
        if self.value:
            names.add("value.weight")
        return names

"""Comparing adapters: weight-space distances (``hubcli compare``), nearest neighbours
(``hubcli similar``) and layer-by-layer CKA of two models on a dataset (``hubcli compare --cka``).

One implementation for the CLI and the TUI's Compare dialog, so both read the same dataset with
the same limits, load the models the same (quietly) and measure the same thing. Everything heavy
(torch, the engine) is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    import torch

    from hubcli.analysis.nearest import Neighbour
    from hubcli.analysis.representations import LayerCka
    from hubcli.analysis.weights import DistanceReport
    from registry import Registry

CKA_STAGE = "running both models"


@dataclass(frozen=True)
class CompareRequest:
    """Distances between every pair of ``names`` by ``metric`` (l2, cosine or grassmann), over
    the modules ``matrices`` names (None: all)."""

    names: Sequence[str]
    metric: str = "l2"
    matrices: Sequence[str] | None = None


@dataclass(frozen=True)
class CompareResult:
    report: DistanceReport

    def map(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A 2-D map of the adapters (classical MDS of the mean distances) and the share of the
        spread each axis explains."""
        from hubcli.analysis.maps import classical_mds

        return classical_mds(self.report.mean())


def compare(
    registry: Registry, request: CompareRequest, progress: ProgressCallback = ignore_progress
) -> CompareResult:
    """Read each adapter's weight updates, then measure the distances between them."""
    from hubcli.analysis.modules import registry_weights
    from hubcli.analysis.weights import distances

    steps = len(request.names) + 1
    weights = []
    for done, name in enumerate(request.names):
        progress(Progress("reading", done, steps, detail=name))
        weights.append(registry_weights(registry, name))
    progress(Progress("computing distances", len(request.names), steps))
    return CompareResult(distances(weights, metric=request.metric, matrices=request.matrices))


@dataclass(frozen=True)
class SimilarRequest:
    """The ``top`` adapters nearest to ``name`` (same method and base model)."""

    name: str
    metric: str = "l2"
    matrices: Sequence[str] | None = None
    top: int = 10


@dataclass(frozen=True)
class SimilarResult:
    neighbours: list[Neighbour]
    skipped: dict[str, str]
    """Adapters of the same method and base model that could not be compared, and why."""


def similar(registry: Registry, request: SimilarRequest) -> SimilarResult:
    from hubcli.analysis.nearest import nearest

    found, skipped = nearest(
        registry, request.name, metric=request.metric, matrices=request.matrices, top=request.top
    )
    return SimilarResult(found, skipped)


@dataclass(frozen=True)
class CkaRequest:
    """Linear CKA between the hidden states of two models on ``dataset``: each model is "base"
    or adapter names joined by '+' (stacked) on ``base``; ``layers`` None: every hidden state."""

    base: str
    model_a: str
    model_b: str
    dataset: Path
    layers: Sequence[int] | None = None
    pool: str = "mean"
    column: str = "text"
    limit: int = 512
    batch_size: int = 32
    max_length: int = 128


def cka(registry: Registry, request: CkaRequest, progress: ProgressCallback = ignore_progress) -> LayerCka:
    """Read the dataset, load both models, run them batch by batch."""
    from hubcli.analysis.inputs import batches, read_token_ids
    from hubcli.analysis.representations import layerwise_cka
    from hubcli.engine.loading import quiet_transformers

    progress(Progress("reading the dataset and loading both models"))
    examples = read_token_ids(
        Path(request.dataset),
        tokenizer_source=request.base,
        column=request.column,
        max_length=request.max_length,
        limit=request.limit,
    )
    with quiet_transformers():  # no weight-loading bars or load reports
        model_a = _model(registry, request.base, request.model_a)
        model_b = _model(registry, request.base, request.model_b)
    done = [0]

    def batch(count: int) -> None:
        done[0] += count
        progress(Progress(CKA_STAGE, done[0], len(examples)))

    pad_id = getattr(model_a.config, "pad_token_id", None) or 0
    return layerwise_cka(
        model_a,
        model_b,
        batches(examples, request.batch_size, pad_id),
        layers=request.layers,
        pool=request.pool,
        on_batch=batch,
    )


def _model(registry: Registry, base: str, spec: str) -> Any:
    """``base`` alone ("base"), or with the adapters ``spec`` names stacked on it."""
    from hubcli.engine import load

    if spec == "base":
        return load(base).model
    return load(base, adapters=spec.split("+"), registry=registry).model

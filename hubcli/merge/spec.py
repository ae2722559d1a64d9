"""What a merge is asked to do, checked before any tensor is read.

Kept free of torch so that the CLI can refuse a bad request (unknown method, wrong number of
weights, a density outside (0, 1]) before it pays for importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

from hubcli.plugin_api import HubcliError

Method = Literal["linear", "task_arithmetic", "ties", "dare_linear", "dare_ties", "svd"]
METHODS: tuple[str, ...] = get_args(Method)
ENTRY_WISE_METHODS = frozenset({"ties", "dare_linear", "dare_ties"})
"""Methods that zero entries of each task vector (so they use ``density``): on LoRA they act on
the dense ΔWᵢ, and their result is not low rank."""
DARE_METHODS = frozenset({"dare_linear", "dare_ties"})
"""Methods that drop entries at random, so they use ``seed``."""


class MergeError(HubcliError):
    """A merge that cannot be done as asked: incompatible inputs or impossible options."""

    title = "Cannot merge"


@dataclass(frozen=True)
class MergeSpec:
    """A checked merge request.

    ``weights`` has one entry per input. ``linear`` normalises them to sum 1 (default: equal);
    the other methods use them as given (default: 1 each), as task arithmetic scales task
    vectors. ``density`` is the fraction of entries kept: TIES keeps the largest magnitudes,
    DARE keeps each entry with probability ``density`` (drop rate p = 1 − density). ``rank``
    asks a LoRA result to be truncated by SVD (None: the method's default, exact concatenation
    where the method allows it).
    """

    method: Method
    weights: tuple[float, ...]
    density: float
    rank: int | None
    seed: int

    @property
    def combination_weights(self) -> tuple[float, ...]:
        """The factors applied to each input's task vector."""
        if self.method == "linear":
            total = sum(self.weights)
            return tuple(w / total for w in self.weights)
        return self.weights


def parse_weights(text: str | None) -> list[float] | None:
    """``"0.7,0.3"`` → ``[0.7, 0.3]``; the error names the piece that is not a number."""
    if text is None:
        return None
    values = []
    for piece in text.split(","):
        try:
            values.append(float(piece))
        except ValueError:
            raise MergeError(
                f"--weights: {piece.strip()!r} is not a number (e.g. --weights 0.7,0.3)"
            ) from None
    return values


def make_spec(
    count: int,
    *,
    method: str = "linear",
    weights: Sequence[float] | None = None,
    density: float = 0.5,
    rank: int | None = None,
    seed: int = 0,
) -> MergeSpec:
    """Check the options of a merge of ``count`` adapters."""
    if count < 2:
        raise MergeError(f"merging needs at least two adapters (got {count})")
    if method not in METHODS:
        raise MergeError(f"unknown merge method {method!r} (choose {', '.join(METHODS)})")
    if weights is None:
        weights = [1.0] * count
    if len(weights) != count:
        raise MergeError(f"--weights has {len(weights)} values for {count} adapters")
    if method == "linear" and abs(sum(weights)) < 1e-12:
        raise MergeError("--weights sum to 0: linear merging normalises them by their sum")
    if not 0.0 < density <= 1.0:
        raise MergeError(f"--density must lie in (0, 1] (got {density})")
    if rank is not None and rank < 1:
        raise MergeError(f"--rank must be positive (got {rank})")
    return MergeSpec(cast(Method, method), tuple(float(w) for w in weights), density, rank, seed)

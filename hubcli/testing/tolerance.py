"""How far apart two floating-point computations of the same function may be: the one rule every
equivalence test uses (hubcli against PEFT, against the AdapterHub goldens, merged against
unmerged, a composition against the same maths done by hand), instead of a hand-picked ``1e-5``.

Why it is not a constant. Two implementations of the same forward pass round differently: the
BLAS picks its kernel (and so the order of every sum) by CPU, SIMD width and thread count,
fused and unfused paths associate sums differently, a merged ``W + ΔW`` is rounded once more.
Measured on the tiny RoBERTa ``lora_full`` golden, the same code and data gave 3.6e-6 with MKL's
AVX-512 kernels and 1.4e-5 with its SSE4.2 ones (``MKL_ENABLE_INSTRUCTIONS=SSE4_2``): another
CPU broke a 1e-5 bound that one machine happened to meet.

The rule (``tolerance``): a dot product of length n computed in a precision with unit roundoff
u (half the machine epsilon: 2⁻²⁴ for float32) carries a relative error of at most
γₙ = n·u/(1 − n·u) ≈ n·u, in any summation order (Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., §3.1). To first order the relative errors of chained stages add
up, and LayerNorm/RMSNorm keep the activations at unit scale, so one stage does not blow up the
next. A transformer layer chains ``STAGES_PER_LAYER`` = 8 reductions: the q/k/v projection, the
q·kᵀ scores, the softmax-weighted sum of the values, the attention output projection, the two
feed-forward projections and the two norms; the embeddings and the output head (or pooler and
classifier) add ``STAGES_OUTSIDE_LAYERS`` = 2. Both sides of a comparison carry such an error,
hence the factor 2. So, for an output of a model with ``layers`` layers and widest reduction
``width`` (the hidden or feed-forward size, or the sequence length when longer):

    atol = 2 · u(dtype) · width · (8 · layers + 2) · max(1, max |reference|)

For the tiny test models (float32, 2 layers, width 37) that is 7.9e-5 times the output scale
(about 2e-4 for hidden states of magnitude 3): 15 times the 1.4e-5 above, 59 times the largest
difference of any equivalence test on an AVX-512 machine, and still more than 600 times below
the smallest change a golden adapter makes to its base's output (0.54).
A weight-space comparison (a ΔW = B·A of rank r against another computation of it) is one
stage of width r. In half precision the bound says what it should: through a few layers there
is no guarantee worth the name (u = 2⁻⁸ for bfloat16), compare such outputs loosely or in
float32.

Importing this module stays cheap: torch is imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STAGES_PER_LAYER = 8
"""Chained reductions in one transformer layer (see the module docstring)."""

STAGES_OUTSIDE_LAYERS = 2
"""The embeddings and the output head (or pooler and classifier)."""

IMPLEMENTATIONS = 2
"""Both sides of a comparison carry their own rounding error."""


def unit_roundoff(dtype: Any) -> float:
    """Half the machine epsilon of ``dtype`` (a ``torch.dtype``): 2⁻²⁴ for float32."""
    import torch

    return torch.finfo(dtype).eps / 2


def tolerance(dtype: Any, *, width: int, stages: int, scale: float = 1.0) -> float:
    """The absolute tolerance for two computations, in ``dtype``, of a chain of ``stages``
    reductions of length at most ``width``, whose values are of magnitude ``scale`` (at least 1:
    normalised activations are of unit scale even where the output is smaller)."""
    u = unit_roundoff(dtype)
    return IMPLEMENTATIONS * u * width * stages * max(1.0, scale)


def model_shape(model: Any) -> tuple[int, int]:
    """``(layers, width)`` of a model: a ``transformers`` model, its config, a saved model folder,
    or anything with a ``.model`` that is one (a ``StitchedModel``). ``width`` is the larger of
    the hidden and the feed-forward size."""
    config = _config_of(model)
    layers = _first(config, "num_hidden_layers", "n_layer", "n_layers", "num_layers")
    hidden = _first(config, "hidden_size", "n_embd", "dim", "d_model")
    inner = _first(config, "intermediate_size", "n_inner", "hidden_dim", "ffn_dim", "d_ff", default=0)
    if not inner and hasattr(config, "n_embd"):  # GPT-2 leaves n_inner None: 4 · n_embd
        inner = 4 * hidden
    return int(layers), int(max(hidden, inner))


def output_tolerance(model: Any, reference: Any, *, dtype: Any = None, tokens: int | None = None) -> float:
    """The tolerance for an output of ``model`` (hidden states or logits) against ``reference``.

    ``dtype`` defaults to the reference's (a float64 reference of a float32 computation: pass
    ``torch.float32``); ``tokens`` (the sequence length, a reduction of the attention) defaults
    to the second-last dimension of a 3-d reference."""
    layers, width = model_shape(model)
    if tokens is None and reference.dim() == 3:
        tokens = reference.shape[-2]
    scale = reference.detach().abs().max().item() if reference.numel() else 0.0
    return tolerance(
        dtype or reference.dtype,
        width=max(width, tokens or 0),
        stages=STAGES_PER_LAYER * layers + STAGES_OUTSIDE_LAYERS,
        scale=scale,
    )


def assert_outputs_close(
    got: Any, want: Any, model: Any, *, dtype: Any = None, what: str = "output", tokens: int | None = None
) -> float:
    """Assert ``got`` has ``want``'s shape and is within ``output_tolerance``; returns the
    largest absolute difference. The message names both numbers."""
    assert tuple(got.shape) == tuple(want.shape), (
        f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    )
    limit = output_tolerance(model, want, dtype=dtype or _coarser(got.dtype, want.dtype), tokens=tokens)
    difference = (got.detach().double() - want.detach().double()).abs().max().item() if want.numel() else 0.0
    assert difference <= limit, f"{what}: max abs difference {difference:.3g} > tolerance {limit:.3g}"
    return difference


def weight_tolerance(reference: Any, *, width: int, dtype: Any = None, factorised: bool = False) -> float:
    """The tolerance for a weight computed two ways: one stage, a sum of ``width`` terms (the
    rank r of a ΔW = B·A, r + 1 for W + B·A, the number of adapters a merge combines).
    ``dtype``: the precision the weight was computed or stored in (default: the reference's).

    ``factorised``: one side went through a factorisation (an SVD) in ``dtype``. Its backward
    error is bounded by c·n·u·‖A‖₂ (Golub & Van Loan, *Matrix Computations*, §8.6), so then
    ``width`` is the matrix's larger dimension and the scale its spectral norm ‖A‖₂ instead of
    its largest entry."""
    import torch

    if not reference.numel():
        scale = 0.0
    elif factorised:
        scale = torch.linalg.matrix_norm(reference.detach().double(), ord=2).item()
    else:
        scale = reference.detach().abs().max().item()
    return tolerance(dtype or reference.dtype, width=width, stages=1, scale=scale)


def assert_weights_close(
    got: Any, want: Any, *, width: int, dtype: Any = None, factorised: bool = False, what: str = "weight"
) -> float:
    """Assert ``got`` has ``want``'s shape and is within ``weight_tolerance``; returns the
    largest absolute difference."""
    assert tuple(got.shape) == tuple(want.shape), (
        f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    )
    dtype = dtype or _coarser(got.dtype, want.dtype)
    limit = weight_tolerance(want, width=width, dtype=dtype, factorised=factorised)
    difference = (got.detach().double() - want.detach().double()).abs().max().item() if want.numel() else 0.0
    assert difference <= limit, f"{what}: max abs difference {difference:.3g} > tolerance {limit:.3g}"
    return difference


def _coarser(first: Any, second: Any) -> Any:
    return first if unit_roundoff(first) >= unit_roundoff(second) else second


def _config_of(model: Any) -> Any:
    if isinstance(model, (str, Path)):
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(model)
    inner = getattr(model, "model", None)
    if not hasattr(model, "config") and inner is not None:
        model = inner
    return getattr(model, "config", model)


def _first(config: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = getattr(config, name, None)
        if value:
            return value
    if default is None:
        raise ValueError(f"{type(config).__name__} has none of {', '.join(names)}")
    return default

"""Weight-space distances between adapters, per module, without forming d×d matrices.

For LoRA, ΔW = s·B·A has rank ≤ r. QR(B) = Q_b R_b and QR(Aᵀ) = Q_a R_a give
ΔW = Q_b (s·R_b R_aᵀ) Q_aᵀ, and the SVD of the r×r core U_c Σ V_cᵀ an exact thin SVD
ΔW = (Q_b U_c) Σ (Q_a V_c)ᵀ = U Σ Vᵀ. From it:

- ⟨ΔW₁, ΔW₂⟩_F = tr(V₁ Σ₁ U₁ᵀ U₂ Σ₂ V₂ᵀ) = Σ_kl (Σ₁U₁ᵀU₂Σ₂)_kl (V₁ᵀV₂)_kl: two r×r products;
- L2 = ‖ΔW₁ − ΔW₂‖_F = √(‖ΔW₁‖² + ‖ΔW₂‖² − 2⟨ΔW₁, ΔW₂⟩), ‖ΔW‖² = Σσ²;
- cosine distance = 1 − ⟨ΔW₁, ΔW₂⟩ / (‖ΔW₁‖ ‖ΔW₂‖);
- Grassmann distance between the column spaces = ‖θ‖₂, θ the principal angles, cos θ the
  singular values of U₁ᵀU₂ (only the numerical rank's columns of U span the space); ranks that
  differ add π/2 per missing dimension (Ye & Lim), so it stays a metric.

Everything depends on ΔW only, never on A or B themselves: B·A = (B·R)(R⁻¹·A) gives the same
numbers (FACTS.md, "Similarity measures"). Arithmetic is float64 because the L2 formula
subtracts nearly equal squares for close adapters: it is exact to about √ε·‖ΔW‖ ≈ 1e-8·‖ΔW‖.

Non-low-rank methods (bottleneck, IA³, prefix …) are compared on flat parameter vectors per
module; the Grassmann distance needs a subspace and is refused for them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from hubcli.analysis.modules import AdapterWeights, IncomparableAdapters, matrix_of
from hubcli.plugin_api import LowRankUpdate

METRICS = ("l2", "cosine", "grassmann")
RANK_TOLERANCE = 1e-10
"""Singular values below this fraction of the largest do not count towards a ΔW's rank."""
CHUNK_ELEMENTS = 1 << 22
"""Bound on the r×r blocks held at once (rows × columns × r²) when comparing many adapters."""


@dataclass(frozen=True)
class ThinSvds:
    """Thin SVDs ΔWᵢ = Uᵢ diag(sᵢ) Vᵢᵀ of N modules: u [N, out, k], s [N, k], v [N, in, k] with
    orthonormal columns, and each one's numerical rank; columns past the rank are zero."""

    u: torch.Tensor
    s: torch.Tensor
    v: torch.Tensor
    rank: torch.Tensor

    def widened(self, width: int) -> ThinSvds:
        """The same SVDs padded with zero columns to ``width``."""
        if width == self.s.shape[-1]:
            return self
        extra = (0, width - self.s.shape[-1])
        pad = torch.nn.functional.pad
        return ThinSvds(pad(self.u, extra), pad(self.s, extra), pad(self.v, extra), self.rank)


def thin_svds(modules: Sequence[LowRankUpdate]) -> ThinSvds:
    """The exact thin SVDs of s·B·A through QR of both factors and an SVD of the r×r core,
    batched over the modules of equal rank."""
    width = max(min(m.rank, *m.shape) for m in modules)
    out, inp = modules[0].shape
    n = len(modules)
    result = ThinSvds(
        torch.zeros(n, out, width, dtype=torch.float64),
        torch.zeros(n, width, dtype=torch.float64),
        torch.zeros(n, inp, width, dtype=torch.float64),
        torch.zeros(n, dtype=torch.long),
    )
    by_rank: dict[int, list[int]] = defaultdict(list)
    for index, module in enumerate(modules):
        by_rank[module.rank].append(index)
    for indices in by_rank.values():
        group = [modules[i] for i in indices]
        q_b, r_b = torch.linalg.qr(torch.stack([m.B for m in group]).to(torch.float64))
        q_a, r_a = torch.linalg.qr(torch.stack([m.A.T for m in group]).to(torch.float64))
        scalings = torch.tensor([m.scaling for m in group], dtype=torch.float64)[:, None, None]
        core_u, sigma, core_vh = torch.linalg.svd(scalings * (r_b @ r_a.transpose(1, 2)), full_matrices=False)
        keep = sigma > sigma[:, :1] * RANK_TOLERANCE
        k = sigma.shape[-1]
        at = torch.tensor(indices)
        result.u[at, :, :k] = q_b @ core_u * keep[:, None, :]
        result.v[at, :, :k] = q_a @ core_vh.transpose(1, 2) * keep[:, None, :]
        result.s[at, :k] = sigma * keep
        result.rank[at] = keep.sum(-1)
    return result


def _blocks(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """All cross products xᵢᵀyⱼ: [N, d, k] × [M, d, k] → [N, M, k, k] (one matmul)."""
    n, d, k = x.shape
    m = y.shape[0]
    flat = x.transpose(1, 2).reshape(n * k, d) @ y.transpose(1, 2).reshape(m * k, d).T
    return flat.view(n, k, m, k).permute(0, 2, 1, 3)


def _from_inner(inner: torch.Tensor, sq_x: torch.Tensor, sq_y: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "l2":
        return (sq_x[:, None] + sq_y[None, :] - 2 * inner).clamp_min(0).sqrt()
    norms = (sq_x[:, None] * sq_y[None, :]).sqrt()
    cosine = torch.where(norms > 0, inner / norms.clamp_min(torch.finfo(norms.dtype).tiny), 0.0)
    return 1 - cosine.clamp(-1, 1)


def low_rank_distances(xs: ThinSvds, ys: ThinSvds, metric: str, symmetric: bool = False) -> torch.Tensor:
    """[N, M] distances between the low-rank ΔW's of one module; ``symmetric`` (xs is ys): only
    the upper triangle is computed (the caller mirrors it)."""
    k = max(xs.s.shape[-1], ys.s.shape[-1])
    xs, ys = xs.widened(k), ys.widened(k)
    u_x, s_x, v_x, rank_x = xs.u, xs.s, xs.v, xs.rank
    u_y, s_y, v_y, rank_y = ys.u, ys.s, ys.v, ys.rank
    rows = max(1, CHUNK_ELEMENTS // max(1, len(s_y) * k * k))
    out = []
    for start in range(0, len(s_x), rows):
        part = slice(start, start + rows)
        if metric == "grassmann":
            rows_here = torch.arange(start, min(start + rows, len(s_x)))
            wanted = (
                rows_here[:, None] < torch.arange(len(s_y))[None, :]
                if symmetric
                else torch.ones(len(rows_here), len(s_y), dtype=torch.bool)
            )
            out.append(_grassmann(_blocks(u_x[part], u_y), rank_x[part], rank_y, wanted))
        else:
            left = _blocks(u_x[part] * s_x[part, None, :], u_y * s_y[:, None, :])
            inner = (left * _blocks(v_x[part], v_y)).sum((-2, -1))
            out.append(_from_inner(inner, (s_x[part] ** 2).sum(-1), (s_y**2).sum(-1), metric))
    return torch.cat(out)


def _grassmann(
    overlaps: torch.Tensor, rank_x: torch.Tensor, rank_y: torch.Tensor, wanted: torch.Tensor
) -> torch.Tensor:
    """√(Σθ² + |k₁ − k₂|·(π/2)²) over the min(k₁, k₂) principal angles θ: for equal ranks the
    usual ‖θ‖₂; for unequal ranks Ye & Lim's distance between subspaces of different dimensions
    (every missing dimension counts as orthogonal), which keeps the triangle inequality. Only the
    pairs ``wanted`` are computed (others 0): the small SVDs dominate the cost, so a symmetric
    matrix computes one triangle."""
    cosines = torch.linalg.svdvals(overlaps[wanted]).clamp(0, 1)
    angles = torch.arccos(cosines)
    ranks_x, ranks_y = torch.broadcast_tensors(rank_x[:, None], rank_y[None, :])
    counted = torch.minimum(ranks_x, ranks_y)[wanted]
    missing = (ranks_x - ranks_y).abs()[wanted]
    mask = torch.arange(angles.shape[-1]) < counted[:, None]
    result = torch.zeros(wanted.shape, dtype=torch.float64)
    result[wanted] = (((angles * mask) ** 2).sum(-1) + missing * (torch.pi / 2) ** 2).sqrt()
    return result


def vector_distances(xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor], metric: str) -> torch.Tensor:
    """[len(xs), len(ys)] distances between flat parameter vectors of one module."""
    x = torch.stack([t.to(torch.float64) for t in xs])
    y = torch.stack([t.to(torch.float64) for t in ys])
    return _from_inner(x @ y.T, (x**2).sum(-1), (y**2).sum(-1), metric)


@dataclass
class DistanceReport:
    """Distances between ``rows`` and ``columns`` adapters: one [rows, columns] matrix per module."""

    rows: list[str]
    columns: list[str]
    metric: str
    per_module: dict[str, torch.Tensor]

    def per_layer(self) -> dict[str, torch.Tensor]:
        """Mean over the modules of each layer (``layer.3``; modules outside layers by name)."""
        groups: dict[str, list[torch.Tensor]] = defaultdict(list)
        for key, matrix in self.per_module.items():
            groups[_layer_of(key)].append(matrix)
        return {layer: torch.stack(ms).mean(0) for layer, ms in sorted(groups.items(), key=_layer_order)}

    def mean(self) -> torch.Tensor:
        """Mean over layers of the per-layer means."""
        return torch.stack(list(self.per_layer().values())).mean(0)


def _layer_of(key: str) -> str:
    pieces = key.split(".")
    return ".".join(pieces[:2]) if pieces[0] == "layer" and len(pieces) > 2 else key


def _layer_order(item: tuple[str, object]) -> tuple[int, int | str]:
    pieces = item[0].split(".")
    return (0, int(pieces[1])) if pieces[0] == "layer" else (1, item[0])


def check_comparable(adapters: Sequence[AdapterWeights]) -> None:
    """Same method, same base model and model type (where known), or a one-line refusal."""
    first = adapters[0]
    for other in adapters[1:]:
        for what, mine, theirs in (
            ("architecture", first.architecture, other.architecture),
            ("base model", first.base_model, other.base_model),
            ("model type", first.model_type, other.model_type),
        ):
            if mine and theirs and mine != theirs:
                raise IncomparableAdapters(
                    f"{first.name!r} and {other.name!r} have different {what}s ({mine} vs {theirs}); "
                    "weight distances need adapters of the same method on the same base model"
                )


def shared_modules(adapters: Sequence[AdapterWeights], matrices: Sequence[str] | None) -> list[str]:
    """Module keys every adapter has, kept by ``matrices`` (None: all), with equal shapes."""
    keys = set.intersection(*(set(a.modules) for a in adapters))
    if matrices:
        keys = {key for key in keys if selected(key, matrices)}
    if not keys:
        wanted = f" among matrices {','.join(matrices)}" if matrices else ""
        names = ", ".join(repr(a.name) for a in adapters[:4])
        raise IncomparableAdapters(f"{names} have no adapted module in common{wanted}")
    for key in keys:
        shapes = {a.name: _shape(a.modules[key]) for a in adapters}
        if len(set(shapes.values())) > 1:
            listed = ", ".join(f"{name} {shape}" for name, shape in list(shapes.items())[:4])
            raise IncomparableAdapters(f"module {key} has different shapes: {listed}")
    return sorted(keys, key=_module_order)


def selected(key: str, matrices: Sequence[str]) -> bool:
    """Whether ``--matrices`` keeps module ``key``: by short name (q) or module name (query)."""
    inner = matrix_of(key)
    return any(m in (inner, inner.rsplit(".", 1)[-1], inner.split(".", 1)[0]) for m in matrices)


def _shape(module: LowRankUpdate | torch.Tensor) -> tuple[int, ...]:
    return module.shape if isinstance(module, LowRankUpdate) else tuple(module.shape)


def _module_order(key: str) -> tuple[int, int | str, str]:
    pieces = key.split(".", 2)
    if pieces[0] == "layer" and len(pieces) == 3 and pieces[1].isdigit():
        return (0, int(pieces[1]), pieces[2])
    return (1, key, "")


def distances(
    rows: Sequence[AdapterWeights],
    columns: Sequence[AdapterWeights] | None = None,
    *,
    metric: str = "l2",
    matrices: Sequence[str] | None = None,
) -> DistanceReport:
    """Distances between every row adapter and every column adapter (default: the rows
    themselves, with an exact zero diagonal) on the modules they all share."""
    if metric not in METRICS:
        raise IncomparableAdapters(f"unknown metric {metric!r} (choose {', '.join(METRICS)})")
    square = columns is None
    columns = list(rows) if columns is None else list(columns)
    everyone = [*rows, *columns]
    check_comparable(everyone)
    if metric == "grassmann" and not all(a.low_rank for a in everyone):
        method = next(a.architecture for a in everyone if not a.low_rank)
        raise IncomparableAdapters(
            f"the Grassmann distance needs low-rank updates (LoRA); {method} adapters have none "
            "(use --metric l2 or cosine)"
        )
    per_module = {}
    for key in shared_modules(everyone, matrices):
        row_modules = [a.modules[key] for a in rows]
        column_modules = row_modules if square else [a.modules[key] for a in columns]
        matrix = _module_distances(row_modules, column_modules, metric)
        if square:
            upper = torch.triu(matrix, diagonal=1)
            matrix = upper + upper.T
        per_module[key] = matrix
    return DistanceReport([a.name for a in rows], [a.name for a in columns], metric, per_module)


def _module_distances(
    xs: list[LowRankUpdate | torch.Tensor], ys: list[LowRankUpdate | torch.Tensor], metric: str
) -> torch.Tensor:
    if all(isinstance(m, LowRankUpdate) for m in xs + ys):
        svd_x = thin_svds(xs)  # type: ignore[arg-type]
        svd_y = svd_x if ys is xs else thin_svds(ys)  # type: ignore[arg-type]
        return low_rank_distances(svd_x, svd_y, metric, symmetric=ys is xs)
    return vector_distances(xs, ys, metric)  # type: ignore[arg-type]  # same method: all vectors

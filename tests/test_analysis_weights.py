"""ΔW distances from LoRA factors against dense computations on small shapes, and their
invariances (reparametrisation, symmetry, self-distance, extreme subspaces)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.analysis.modules import AdapterWeights, IncomparableAdapters
from hubcli.analysis.weights import distances, thin_svds
from hubcli.plugin_api import LowRankUpdate

OUT, IN, RANK = 12, 10, 3


def random_factors(seed: int, rank: int = RANK, scaling: float = 2.0) -> LowRankUpdate:
    generator = torch.Generator().manual_seed(seed)
    return LowRankUpdate(
        A=torch.randn(rank, IN, generator=generator, dtype=torch.float64),
        B=torch.randn(OUT, rank, generator=generator, dtype=torch.float64),
        scaling=scaling,
    )


def lora(name: str, **modules: LowRankUpdate) -> AdapterWeights:
    return AdapterWeights(
        name, "lora", "tiny-bert", "bert", {k.replace("_", "."): v for k, v in modules.items()}
    )


def dense(factors: LowRankUpdate) -> torch.Tensor:
    return factors.scaling * factors.B.double() @ factors.A.double()


def dense_grassmann(x: torch.Tensor, y: torch.Tensor) -> float:
    """Brute force: orthonormal bases of the column spaces from full d×d SVDs; ranks that
    differ add π/2 per missing dimension."""
    bases = []
    for matrix in (x, y):
        u, s, _ = torch.linalg.svd(matrix)
        bases.append(u[:, : int((s > s[0] * 1e-10).sum())])
    cosines = torch.linalg.svdvals(bases[0].T @ bases[1]).clamp(0, 1)
    missing = abs(bases[0].shape[1] - bases[1].shape[1])
    return math.sqrt(float((torch.arccos(cosines) ** 2).sum()) + missing * (math.pi / 2) ** 2)


def one_module(metric: str, x: LowRankUpdate, y: LowRankUpdate) -> float:
    report = distances([lora("x", layer_0_q=x)], [lora("y", layer_0_q=y)], metric=metric)
    return float(report.per_module["layer.0.q"][0, 0])


@pytest.mark.parametrize("seeds", [(0, 1), (2, 3), (4, 4)])
def test_matches_dense_computation(seeds: tuple[int, int]) -> None:
    x, y = random_factors(seeds[0]), random_factors(seeds[1], rank=2, scaling=0.5)
    dx, dy = dense(x), dense(y)
    assert one_module("l2", x, y) == pytest.approx(float(torch.linalg.norm(dx - dy)), rel=1e-9, abs=1e-9)
    cosine = float((dx * dy).sum() / (torch.linalg.norm(dx) * torch.linalg.norm(dy)))
    assert one_module("cosine", x, y) == pytest.approx(1 - cosine, abs=1e-9)
    assert one_module("grassmann", x, y) == pytest.approx(dense_grassmann(dx, dy), abs=1e-6)


def test_thin_svd_is_exact() -> None:
    factors = random_factors(7)
    rank_deficient = LowRankUpdate(
        A=factors.A, B=factors.B * torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64), scaling=1.0
    )
    svds = thin_svds(
        [
            factors,
            random_factors(8, rank=1),
            rank_deficient,
            LowRankUpdate(A=factors.A, B=0 * factors.B, scaling=1.0),
        ]
    )
    assert svds.rank.tolist() == [RANK, 1, 2, 0] and svds.u.shape == (4, OUT, RANK)
    for index, module in enumerate([factors, random_factors(8, rank=1), rank_deficient]):
        u, s, v = svds.u[index], svds.s[index], svds.v[index]
        torch.testing.assert_close(u @ torch.diag(s) @ v.T, dense(module))
        torch.testing.assert_close(u.T @ u, torch.diag((s > 0).double()))
    torch.testing.assert_close(svds.s[0], torch.linalg.svdvals(dense(factors))[:RANK])


def test_reparametrisation_changes_nothing() -> None:
    """B·A = (B·R)(R⁻¹·A): distances depend on ΔW, never on the factors."""
    x, y = random_factors(0), random_factors(1)
    mixing = torch.randn(RANK, RANK, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    mixing += 3 * torch.eye(RANK, dtype=torch.float64)
    x_again = LowRankUpdate(A=torch.linalg.solve(mixing, x.A), B=x.B @ mixing, scaling=x.scaling)
    for metric in ("l2", "cosine", "grassmann"):
        assert one_module(metric, x_again, y) == pytest.approx(one_module(metric, x, y), rel=1e-7, abs=1e-7)
        # L2 subtracts squares: exact to √ε·‖ΔW‖ (float64), not to ε.
        scale = float(torch.linalg.norm(dense(x))) if metric == "l2" else 1.0
        assert one_module(metric, x_again, x) == pytest.approx(0.0, abs=1e-7 * scale)


def test_pairwise_matrix_is_symmetric_with_zero_diagonal() -> None:
    adapters = [
        lora(f"a{i}", layer_0_q=random_factors(i), layer_1_q=random_factors(10 + i)) for i in range(4)
    ]
    for metric in ("l2", "cosine", "grassmann"):
        report = distances(adapters, metric=metric)
        matrix = report.mean()
        torch.testing.assert_close(matrix, matrix.T)
        assert torch.all(matrix.diagonal() == 0)
        assert torch.all(matrix[~torch.eye(4, dtype=torch.bool)] > 0)
        assert list(report.per_layer()) == ["layer.0", "layer.1"]
        torch.testing.assert_close(
            matrix, (report.per_module["layer.0.q"] + report.per_module["layer.1.q"]) / 2
        )


def test_grassmann_extremes_and_independence_of_a() -> None:
    """Same column space → 0; orthogonal → √r·π/2; d_G(B₁A₁, B₂A₂) = d_G(B₁, B₂) for full-row-rank A."""
    basis = torch.linalg.qr(torch.randn(OUT, 2 * RANK, dtype=torch.float64))[0]
    b1, b2 = basis[:, :RANK], basis[:, RANK:]
    a1, a2 = torch.randn(RANK, IN, dtype=torch.float64), torch.randn(RANK, IN, dtype=torch.float64)
    assert one_module(
        "grassmann", LowRankUpdate(A=a1, B=b1, scaling=1.0), LowRankUpdate(A=a2, B=b1 * 3, scaling=0.1)
    ) == pytest.approx(0.0, abs=1e-6)
    assert one_module(
        "grassmann", LowRankUpdate(A=a1, B=b1, scaling=1.0), LowRankUpdate(A=a2, B=b2, scaling=1.0)
    ) == pytest.approx(math.sqrt(RANK) * math.pi / 2)
    c1, c2 = torch.randn(OUT, RANK, dtype=torch.float64), torch.randn(OUT, RANK, dtype=torch.float64)
    eye = torch.eye(RANK, IN, dtype=torch.float64)
    assert one_module(
        "grassmann", LowRankUpdate(A=a1, B=c1, scaling=1.0), LowRankUpdate(A=a2, B=c2, scaling=1.0)
    ) == pytest.approx(
        one_module(
            "grassmann", LowRankUpdate(A=eye, B=c1, scaling=1.0), LowRankUpdate(A=eye, B=c2, scaling=1.0)
        ),
        abs=1e-7,
    )


def test_vectors_for_non_low_rank_methods() -> None:
    generator = torch.Generator().manual_seed(0)
    vectors = [torch.randn(20, generator=generator) for _ in range(3)]
    adapters = [
        AdapterWeights(f"b{i}", "bottleneck", "tiny-bert", "bert", {"layer.0.output": v})
        for i, v in enumerate(vectors)
    ]
    matrix = distances(adapters, metric="l2").mean()
    assert float(matrix[0, 1]) == pytest.approx(float(torch.linalg.norm(vectors[0] - vectors[1])), rel=1e-6)
    cosine = distances(adapters, metric="cosine").mean()
    expected = 1 - torch.nn.functional.cosine_similarity(vectors[0], vectors[2], dim=0)
    assert float(cosine[0, 2]) == pytest.approx(float(expected), abs=1e-6)
    with pytest.raises(IncomparableAdapters, match="Grassmann distance needs low-rank"):
        distances(adapters, metric="grassmann")


def test_refusals_are_one_line() -> None:
    x = lora("x", layer_0_q=random_factors(0))
    other_base = AdapterWeights("y", "lora", "other-base", "bert", {"layer.0.q": random_factors(1)})
    with pytest.raises(IncomparableAdapters, match="different base models"):
        distances([x, other_base])
    wide = LowRankUpdate(A=torch.randn(RANK, IN + 1), B=torch.randn(OUT, RANK), scaling=1.0)
    with pytest.raises(IncomparableAdapters, match="layer.0.q has different shapes"):
        distances([x, lora("z", layer_0_q=wide)])
    with pytest.raises(IncomparableAdapters, match="no adapted module in common among matrices v"):
        distances([x, lora("w", layer_0_q=random_factors(2))], matrices=["v"])


def test_matrices_filter_and_ranks_that_differ() -> None:
    adapters = [
        lora("a", layer_0_q=random_factors(0), layer_0_v=random_factors(1)),
        lora("b", layer_0_q=random_factors(2, rank=1), layer_0_v=random_factors(3, rank=4)),
    ]
    only_v = distances(adapters, metric="l2", matrices=["v"])
    assert list(only_v.per_module) == ["layer.0.v"]
    expected = torch.linalg.norm(
        dense(adapters[0].modules["layer.0.v"]) - dense(adapters[1].modules["layer.0.v"])
    )
    assert float(only_v.mean()[0, 1]) == pytest.approx(float(expected), rel=1e-9)
    grassmann = distances(adapters, metric="grassmann")
    assert list(grassmann.per_module) == ["layer.0.q", "layer.0.v"]
    q_a, q_b = (dense(a.modules["layer.0.q"]) for a in adapters)
    one_angle = torch.arccos(
        torch.linalg.svdvals(torch.linalg.svd(q_a)[0][:, :3].T @ torch.linalg.svd(q_b)[0][:, :1])
    )
    expected = math.sqrt(
        float(one_angle[0]) ** 2 + 2 * (math.pi / 2) ** 2
    )  # rank 3 vs 1: one angle, two missing
    assert float(grassmann.per_module["layer.0.q"][0, 1]) == pytest.approx(expected, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    ranks=st.lists(st.integers(1, 4), min_size=3, max_size=3),
    scalings=st.lists(st.floats(0.1, 10.0), min_size=3, max_size=3),
)
def test_l2_and_grassmann_are_metrics(seed: int, ranks: list[int], scalings: list[float]) -> None:
    """Symmetric, zero on the diagonal, non-negative, and the triangle inequality holds."""
    adapters = [
        lora(f"a{i}", layer_0_q=random_factors(seed + i, rank=r, scaling=s))
        for i, (r, s) in enumerate(zip(ranks, scalings, strict=True))
    ]
    for metric in ("l2", "grassmann"):
        d = distances(adapters, metric=metric).mean()
        assert torch.equal(d, d.T) and torch.all(d.diagonal() == 0) and torch.all(d >= 0)
        for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
            assert d[i, j] <= d[i, k] + d[k, j] + 1e-9

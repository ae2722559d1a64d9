"""Linear CKA: its defining properties, a direct computation, and the minibatch estimator."""

from __future__ import annotations

import pytest
import torch

from hubcli.analysis.cka import MinibatchCka, linear_cka


def sample(n: int, seed: int = 0, features: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """X and a noisy linear image Y of it (different width): CKA well inside (0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=generator, dtype=torch.float64)
    x[:, 0] *= 3
    mixing = torch.randn(features, features + 3, generator=generator, dtype=torch.float64)
    y = x @ mixing + 2 * torch.randn(n, features + 3, generator=generator, dtype=torch.float64)
    return x, y


def direct_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """HSIC with centred Gram matrices: tr(KHLH) / √(tr(KHKH) tr(LHLH))."""
    n = x.shape[0]
    centring = torch.eye(n, dtype=torch.float64) - 1 / n
    k, l = centring @ x @ x.T @ centring, centring @ y @ y.T @ centring  # noqa: E741
    return float((k * l).sum() / torch.sqrt((k * k).sum() * (l * l).sum()))


def test_cka_of_a_representation_with_itself_is_one() -> None:
    x, _ = sample(50)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_matches_direct_computation() -> None:
    x, y = sample(40, seed=1)
    assert linear_cka(x, y) == pytest.approx(direct_cka(x, y), abs=1e-12)
    assert 0.05 < linear_cka(x, y) < 0.99


def test_invariant_to_orthogonal_transforms_and_isotropic_scaling() -> None:
    x, y = sample(60, seed=2)
    rotation = torch.linalg.qr(torch.randn(y.shape[1], y.shape[1], dtype=torch.float64))[0]
    expected = linear_cka(x, y)
    assert linear_cka(x, y @ rotation) == pytest.approx(expected, abs=1e-12)
    assert linear_cka(7.5 * x, y) == pytest.approx(expected, abs=1e-12)
    assert linear_cka(x, 0.01 * y @ rotation) == pytest.approx(expected, abs=1e-12)


def test_minibatch_converges_to_full_batch() -> None:
    x, y = sample(8000, seed=3)
    accumulator = MinibatchCka()
    for start in range(0, 8000, 400):
        assert accumulator.update([x[start : start + 400]], [y[start : start + 400], x[start : start + 400]])
    result = accumulator.result()
    assert result.shape == (1, 2)
    assert float(result[0, 0]) == pytest.approx(linear_cka(x, y), abs=0.02)
    assert float(result[0, 1]) == pytest.approx(1.0, abs=1e-9)
    assert accumulator.examples == 8000 and accumulator.batches == 20


def test_minibatch_skips_batches_too_small_for_the_estimator() -> None:
    x, y = sample(3)
    accumulator = MinibatchCka()
    assert not accumulator.update([x], [y])
    with pytest.raises(Exception, match="no batch of at least 4 examples"):
        accumulator.result()

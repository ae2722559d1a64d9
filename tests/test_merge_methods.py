"""The merge methods on small hand-computed examples, and the checks of a merge request."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.merge.spec import MergeError, make_spec, parse_weights
from hubcli.merge.task_vectors import combine, dare_drop, ties, trim_by_magnitude


def vec(*values: float):
    return torch.tensor(values, dtype=torch.float64)


def close(got, *expected: float) -> bool:
    return torch.allclose(got, vec(*expected), atol=1e-12)


TAU = [vec(0.5, -0.1, 0.3, -0.8), vec(-0.4, 0.2, 0.6, -0.5), vec(0.1, -0.9, -0.2, 0.3)]
"""Trimmed to density 0.5 (2 of 4 entries): [0.5, 0, 0, -0.8], [0, 0, 0.6, -0.5], [0, -0.9, 0, 0.3]."""


def test_linear_normalises_weights_and_task_arithmetic_does_not():
    generator = torch.Generator()
    linear = combine(TAU[:2], make_spec(2, method="linear", weights=[3, 1]), generator)
    assert close(linear, 0.275, -0.025, 0.375, -0.725)  # 0.75·τ₁ + 0.25·τ₂
    arithmetic = combine(TAU[:2], make_spec(2, method="task_arithmetic", weights=[1, -1]), generator)
    assert close(arithmetic, 0.9, -0.3, -0.3, -0.3)  # τ₁ − τ₂ (negation is allowed)


def test_trim_keeps_the_largest_magnitudes():
    assert close(trim_by_magnitude(TAU[0], 0.5), 0.5, 0, 0, -0.8)
    assert close(trim_by_magnitude(TAU[2], 0.25), 0, -0.9, 0, 0)
    assert close(trim_by_magnitude(TAU[1], 1.0), -0.4, 0.2, 0.6, -0.5)
    assert close(trim_by_magnitude(TAU[1], 0.01), 0, 0, 0.6, 0)  # at least one entry survives


def test_ties_elects_the_sign_by_sum_and_averages_the_agreeing_entries():
    # sums of the trimmed vectors: [0.5, -0.9, 0.6, -1.0] → signs + − + −; entry 3 averages
    # -0.8 and -0.5 (0.3 disagrees), entry 0 keeps 0.5 alone (τ₂'s -0.4 was trimmed away).
    assert close(ties(TAU, [1, 1, 1], 0.5), 0.5, -0.9, 0.6, -0.65)
    # weights [2, 1, 1]: entry 3 is (2·-0.8 + 1·-0.5) / (2 + 1) = -0.7; entry 0 is 2·0.5 / 2.
    assert close(ties(TAU, [2, 1, 1], 0.5), 0.5, -0.9, 0.6, -0.7)


def test_ties_sign_follows_the_mass_not_the_largest_entry():
    # 0.5 - 0.3 - 0.3 = -0.1: the negative side wins although 0.5 is the largest entry.
    assert close(ties([vec(0.5), vec(-0.3), vec(-0.3)], [1, 1, 1], 1.0), -0.3)
    # a perfect tie elects no sign: the entry is 0
    assert close(ties([vec(0.4), vec(-0.4)], [1, 1], 1.0), 0.0)


def test_dare_drops_with_the_seeded_generator_and_rescales():
    # seed 0 draws [0.970, 0.708, 0.459, 0.921] then [0.645, 0.791, 0.179, 0.351]; density 0.75
    # keeps draws < 0.75 and rescales by 1/0.75 = 4/3.
    spec = make_spec(2, method="dare_linear", weights=[1, 0.5], density=0.75, seed=0)
    generator = torch.Generator().manual_seed(spec.seed)
    got = combine([vec(1, 2, 3, 4), vec(4, 3, 2, 1)], spec, generator)
    # τ̃₁ = [0, 8/3, 4, 0], τ̃₂ = [16/3, 0, 8/3, 4/3]; τ̃₁ + 0.5·τ̃₂
    assert close(got, 8 / 3, 8 / 3, 16 / 3, 2 / 3)


def test_dare_ties_drops_like_dare_then_elects_signs_like_ties():
    # The same draws as above (seed 0, density 0.75), on inputs that disagree in sign at entry 2.
    # τ̃₁ = [0, -8/3, 4, 0], τ̃₂ = [16/3, 0, -8/3, 4/3]; weighted by [1, 0.5]:
    # [0, -8/3, 4, 0] and [8/3, 0, -4/3, 2/3], sum [8/3, -8/3, 8/3, 2/3] → signs + − + +.
    # Disjoint weighted mean (Σ_agree wᵢτ̃ᵢ / Σ_agree |wᵢ|): entry 0 is τ̃₂ alone (8/3 / 0.5),
    # entry 2 keeps τ̃₁'s 4 and leaves out τ̃₂'s disagreeing -8/3, entry 3 is τ̃₂ alone.
    spec = make_spec(2, method="dare_ties", weights=[1, 0.5], density=0.75, seed=0)
    got = combine([vec(1, -2, 3, 4), vec(4, 3, -2, 1)], spec, torch.Generator().manual_seed(0))
    assert close(got, 16 / 3, -8 / 3, 4, 4 / 3)
    # dare_linear on the same masks sums instead: entry 2 is 4 - 4/3 (the conflict half cancels).
    linear = make_spec(2, method="dare_linear", weights=[1, 0.5], density=0.75, seed=0)
    summed = combine([vec(1, -2, 3, 4), vec(4, 3, -2, 1)], linear, torch.Generator().manual_seed(0))
    assert close(summed, 8 / 3, -8 / 3, 8 / 3, 2 / 3)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.lists(st.floats(-5, 5), min_size=5, max_size=5), min_size=2, max_size=4))
def test_dare_ties_without_drops_is_ties_without_trimming(values):
    vectors = [vec(*row) for row in values]
    weights = [1.0 + i for i in range(len(vectors))]
    spec = make_spec(len(vectors), method="dare_ties", weights=weights, density=1.0)
    got = combine(vectors, spec, torch.Generator().manual_seed(0))
    assert torch.equal(got, ties(vectors, weights, 1.0))


def test_dare_keeps_the_expected_value():
    generator = torch.Generator().manual_seed(1)
    tau = vec(1.0, -2.0, 0.5)
    mean = torch.stack([dare_drop(tau, 0.3, generator) for _ in range(20000)]).mean(dim=0)
    assert torch.allclose(mean, tau, atol=0.05)
    assert torch.equal(dare_drop(tau, 1.0, generator), tau)


@pytest.mark.parametrize(
    ("count", "options", "message"),
    [
        (1, {}, "at least two adapters"),
        (2, {"method": "slerp"}, "unknown merge method 'slerp'"),
        (2, {"weights": [1.0]}, "1 values for 2 adapters"),
        (2, {"weights": [1.0, -1.0]}, "sum to 0"),
        (2, {"density": 0.0}, "--density must lie in (0, 1]"),
        (2, {"rank": 0}, "--rank must be positive"),
        (2, {"method": "dare"}, "choose linear, task_arithmetic, ties, dare_linear, dare_ties, svd"),
    ],
)
def test_bad_requests_are_one_line_errors(count, options, message):
    with pytest.raises(MergeError) as error:
        make_spec(count, **options)
    assert message in error.value.message and "\n" not in error.value.message


def test_weights_parse_and_name_the_bad_piece():
    assert parse_weights("0.7, 0.3") == [0.7, 0.3]
    assert parse_weights(None) is None
    with pytest.raises(MergeError, match="'x' is not a number"):
        parse_weights("0.5,x")


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    ranks=st.lists(st.integers(1, 4), min_size=2, max_size=3),
    weights=st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_concatenation_is_exact_and_its_svd_is_the_products(shape, ranks, weights, seed):
    from hubcli.merge.lora import concatenate, svd_of_product, truncate
    from hubcli.plugin_api import LowRankUpdate

    out, inp = shape
    generator = torch.Generator().manual_seed(seed)
    factors = [
        LowRankUpdate(
            A=torch.randn(r, inp, generator=generator, dtype=torch.float64),
            B=torch.randn(out, r, generator=generator, dtype=torch.float64),
            scaling=0.5 + i,
        )
        for i, r in enumerate(ranks)
    ]
    weights = weights[: len(ranks)]
    merged = concatenate(factors, weights)
    dense = sum(w * f.dense() for w, f in zip(weights, factors, strict=True))
    assert merged.rank == sum(ranks)
    assert torch.allclose(merged.dense(), dense, atol=1e-10)
    u, s, vh = svd_of_product(merged.B, merged.A)
    assert torch.allclose((u * s) @ vh, dense, atol=1e-9)
    reference = torch.linalg.svdvals(dense)
    assert torch.allclose(s, reference[: s.numel()], atol=1e-9)
    best, lost, total = truncate(u, s, vh, 1)
    assert lost == pytest.approx(float((reference[1:] ** 2).sum()), abs=1e-8)
    assert total == pytest.approx(float((reference**2).sum()), rel=1e-9, abs=1e-12)
    assert best.rank == 1


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.lists(st.floats(-5, 5), min_size=6, max_size=6), min_size=2, max_size=4),
    density=st.floats(0.1, 1.0),
)
def test_ties_keeps_elected_signs_and_stays_within_the_inputs(values, density):
    vectors = [vec(*row) for row in values]
    weights = [1.0] * len(vectors)
    merged = ties(vectors, weights, density)
    trimmed = torch.stack([trim_by_magnitude(v, density) for v in vectors])
    elected = torch.sign(trimmed.sum(dim=0))
    nonzero = merged != 0
    assert torch.equal(torch.sign(merged[nonzero]), elected[nonzero])
    assert bool((merged.abs() <= trimmed.abs().max(dim=0).values + 1e-12).all())


def test_large_deltas_take_a_randomized_svd_with_an_exact_error(monkeypatch):
    """Above EXACT_SVD_MAX (lowered here) the SVD is randomized: for a ΔW with a decaying
    spectrum it finds the optimum, it is reproducible, and the reported error is the true one."""
    from hubcli.merge import lora

    monkeypatch.setattr(lora, "EXACT_SVD_MAX", 8)
    generator = torch.Generator().manual_seed(3)
    low = torch.randn(60, 6, generator=generator, dtype=torch.float64) @ torch.randn(
        6, 40, generator=generator, dtype=torch.float64
    )
    dense = low + 1e-3 * torch.randn(60, 40, generator=generator, dtype=torch.float64)
    factors, lost, total = lora.best_low_rank(dense, 4)
    u, s, vh = torch.linalg.svd(dense, full_matrices=False)
    optimum = (u[:, :4] * s[:4]) @ vh[:4]
    stored = factors.dense().double()
    assert (stored - optimum).abs().max().item() <= 1e-4 * optimum.abs().max().item()
    assert lost == pytest.approx(float(((dense - stored) ** 2).sum()), rel=1e-4)
    assert total == pytest.approx(float((dense**2).sum()))
    again, _, _ = lora.best_low_rank(dense, 4)
    assert torch.equal(again.A, factors.A) and torch.equal(again.B, factors.B)


def test_trim_breaks_ties_at_the_threshold_in_index_order():
    assert close(trim_by_magnitude(vec(0.2, -0.5, 0.5, 0.5, 0.1), 0.4), 0, -0.5, 0.5, 0, 0)
    assert close(trim_by_magnitude(vec(0.3, 0.3, 0.3), 0.5), 0.3, 0.3, 0)

"""LoRA merging on ΔW = s·B·A: exact concatenation, SVD truncation, TIES/DARE, against dense
computations, the hubcli engine and PEFT; and why A and B are never averaged separately."""

from __future__ import annotations

import copy

import peft
import pytest
import torch

from hubcli.engine import load
from hubcli.merge.spec import make_spec
from hubcli.services.merging import merge_adapters
from hubcli.testing import tiny_inputs, tiny_model
from hubcli.testing.tolerance import assert_outputs_close, assert_weights_close
from tests.helpers.tiny_models import ENGINE_OPTIONS
from tests.test_merge_support import (
    lora_deltas,
    peft_folder,
    register,
    registered_folder,
    registered_tensors,
)

SCALING = 8 / 4  # lora_alpha / r of the helper's adapters


@pytest.fixture
def two_loras(registry, tmp_path):
    """Base model and two independent rank-4 LoRAs ``a`` and ``b`` registered on it."""
    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    for name, seed in (("a", 1), ("b", 2)):
        register(registry, peft_folder(base, tmp_path / name, seed=seed), name)
    return base


def dense_merge(registry, names, weights):
    deltas = [lora_deltas(registered_tensors(registry, name), SCALING) for name in names]
    return {m: sum(w * d[m] for w, d in zip(weights, deltas, strict=True)) for m in deltas[0]}


def merged_deltas(registry, name):
    """ΔW of a merged adapter (hubcli writes scaling 1: lora_alpha = r)."""
    return lora_deltas(registered_tensors(registry, name), 1.0)


def with_deltas(base, deltas):
    """A copy of ``base`` with W + ΔW written into its projections: the direct computation."""
    model = copy.deepcopy(base)
    with torch.no_grad():
        for module, delta in deltas.items():
            weight = model.get_submodule(module).weight
            weight += delta.to(weight.dtype)
    return model


def test_exact_merge_is_the_weighted_sum_and_runs_like_it(registry, two_loras, tmp_path):
    spec = make_spec(2, method="linear", weights=[0.7, 0.3])
    outcome = merge_adapters(registry, "ab", ["a", "b"], spec)
    assert outcome.report["factoring"] == "exact concatenation"
    assert outcome.report["ranks"] == [8]
    assert outcome.report["relative_frobenius_error"] == 0.0
    expected = dense_merge(registry, ["a", "b"], [0.7, 0.3])
    got = merged_deltas(registry, "ab")
    assert set(got) == set(expected) and len(got) == 6
    for module, delta in expected.items():
        assert_weights_close(got[module], delta, width=8, dtype=torch.float32)

    ids, mask = tiny_inputs()
    with torch.no_grad():
        direct = with_deltas(two_loras, expected)(input_ids=ids, attention_mask=mask).logits
        plain = two_loras(input_ids=ids, attention_mask=mask).logits
    engine = load(copy.deepcopy(two_loras), ["ab"], registry=registry).forward(ids, mask).logits
    assert_outputs_close(engine, direct, two_loras)
    assert (engine - plain).abs().max().item() > 1e-2, "the merged adapter changed nothing"

    folder = registered_folder(registry, "ab", tmp_path / "ab-files")
    wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(two_loras), folder).eval()
    with torch.no_grad():
        by_peft = wrapped(input_ids=ids, attention_mask=mask).logits
    assert_outputs_close(by_peft, direct, two_loras)


def test_exact_merge_agrees_with_peft_cat(registry, two_loras, tmp_path):
    merge_adapters(registry, "ab", ["a", "b"], make_spec(2, method="task_arithmetic", weights=[0.6, -0.4]))
    wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(two_loras), tmp_path / "a", adapter_name="a")
    wrapped.load_adapter(tmp_path / "b", adapter_name="b")
    wrapped.add_weighted_adapter(["a", "b"], [0.6, -0.4], "cat", combination_type="cat")
    ours = merged_deltas(registry, "ab")
    for module, delta in ours.items():
        layer = wrapped.base_model.model.get_submodule(module)
        assert_weights_close(layer.get_delta_weight("cat").double(), delta, width=8, dtype=torch.float32)


def test_averaging_a_and_b_separately_is_wrong(registry, two_loras, tmp_path):
    """PEFT's "linear" combines A and B separately, (Σ √(wᵢsᵢ) Bᵢ)(Σ √(wᵢsᵢ) Aᵢ): its cross terms
    BᵢAⱼ belong to no input. For independent LoRAs it misses Σ wᵢ ΔWᵢ by about as much as the
    target itself is large, which is why hubcli never does it."""
    expected = dense_merge(registry, ["a", "b"], [0.5, 0.5])
    wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(two_loras), tmp_path / "a", adapter_name="a")
    wrapped.load_adapter(tmp_path / "b", adapter_name="b")
    wrapped.add_weighted_adapter(["a", "b"], [0.5, 0.5], "avg", combination_type="linear")
    errors = []
    for module, delta in expected.items():
        averaged = wrapped.base_model.model.get_submodule(module).get_delta_weight("avg").double()
        errors.append(((averaged - delta).norm() / delta.norm()).item())
    assert min(errors) > 0.8, errors  # about 100 % (FACTS.md)
    merge_adapters(registry, "ab", ["a", "b"], make_spec(2))
    ours = merged_deltas(registry, "ab")
    assert max(((ours[m] - d).norm() / d.norm()).item() for m, d in expected.items()) < 1e-6


def test_svd_truncation_is_the_best_low_rank_approximation(registry, two_loras):
    outcome = merge_adapters(registry, "ab3", ["a", "b"], make_spec(2, weights=[0.5, 0.5], rank=3))
    assert outcome.report["factoring"] == "svd" and outcome.report["ranks"] == [3]
    expected = dense_merge(registry, ["a", "b"], [0.5, 0.5])
    got = merged_deltas(registry, "ab3")
    lost = total = 0.0
    for module, delta in expected.items():
        u, s, vh = torch.linalg.svd(delta)
        best = u[:, :3] @ torch.diag(s[:3]) @ vh[:3]
        assert_weights_close(got[module], best, width=3, dtype=torch.float32)
        assert ((delta - got[module]).norm() / delta.norm()).item() == pytest.approx(
            (s[3:].norm() / s.norm()).item(), rel=1e-4
        )
        lost, total = lost + (s[3:] ** 2).sum().item(), total + (s**2).sum().item()
    assert outcome.report["relative_frobenius_error"] == pytest.approx((lost / total) ** 0.5, rel=1e-4)
    assert 0.0 < outcome.report["relative_frobenius_error"] < 1.0

    full = merge_adapters(registry, "ab8", ["a", "b"], make_spec(2, weights=[0.5, 0.5], rank=8))
    assert full.report["relative_frobenius_error"] < 1e-6
    for module, delta in merged_deltas(registry, "ab8").items():
        assert_weights_close(delta, expected[module], width=8, dtype=torch.float32)


def test_different_scalings_and_ranks_concatenate_exactly(registry, tmp_path):
    """An rsLoRA of rank 2 (s = α/√r) with a plain rank-4 LoRA: per-module scalings are folded
    into B, so the result has scaling 1 and rank 6."""
    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    register(registry, peft_folder(base, tmp_path / "r2", seed=3, r=2, lora_alpha=5, use_rslora=True), "r2")
    register(registry, peft_folder(base, tmp_path / "r4", seed=4), "r4")
    merge_adapters(registry, "mix", ["r2", "r4"], make_spec(2, method="task_arithmetic", weights=[1.0, 2.0]))
    first = lora_deltas(registered_tensors(registry, "r2"), 5 / 2**0.5)
    second = lora_deltas(registered_tensors(registry, "r4"), SCALING)
    got = merged_deltas(registry, "mix")
    for module in first:
        assert_weights_close(
            got[module], (first[module] + 2.0 * second[module]), width=6, dtype=torch.float32
        )
    assert registry.get_adapter("mix").method_config["r"] == 6


@pytest.mark.parametrize("method", ["ties", "dare_linear", "dare_ties"])
def test_ties_and_dare_act_on_dense_deltas(registry, two_loras, method):
    """The entry-wise methods see ΔWᵢ, not A and B; their result is stored as its best rank-Σrᵢ
    approximation with the error reported; DARE is reproducible from its seed."""
    from hubcli.merge.task_vectors import combine

    spec = make_spec(2, method=method, density=0.5, seed=7)
    outcome = merge_adapters(registry, "m1", ["a", "b"], spec)
    assert outcome.report["ranks"] == [8] and 0 < outcome.report["relative_frobenius_error"] < 1
    deltas = [lora_deltas(registered_tensors(registry, n), SCALING) for n in ("a", "b")]
    generator = torch.Generator().manual_seed(7)
    got = merged_deltas(registry, "m1")
    for module in sorted(deltas[0]):
        dense = combine([d[module] for d in deltas], spec, generator)
        u, s, vh = torch.linalg.svd(dense)
        best = u[:, :8] @ torch.diag(s[:8]) @ vh[:8]
        assert_weights_close(got[module], best, width=8, dtype=torch.float32)
    again = merge_adapters(registry, "m2", ["a", "b"], spec)
    assert again.adapter.digest == outcome.adapter.digest
    if method != "ties":
        other = merge_adapters(registry, "m3", ["a", "b"], make_spec(2, method=method, seed=8))
        assert other.adapter.digest != outcome.adapter.digest


def test_ties_agrees_with_peft_ties_svd(registry, two_loras, tmp_path):
    """With weights 1 our weighted disjoint mean is PEFT's count-based one, and density·n is a
    whole number for every module here (PEFT floors it, we round up), so both keep the same
    entries and the rank-8 results coincide."""
    merge_adapters(registry, "t", ["a", "b"], make_spec(2, method="ties", density=0.5, rank=8))
    wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(two_loras), tmp_path / "a", adapter_name="a")
    wrapped.load_adapter(tmp_path / "b", adapter_name="b")
    wrapped.add_weighted_adapter(
        ["a", "b"], [1.0, 1.0], "t", combination_type="ties_svd", svd_rank=8, density=0.5
    )
    for module, delta in merged_deltas(registry, "t").items():
        layer = wrapped.base_model.model.get_submodule(module)
        assert_weights_close(
            layer.get_delta_weight("t").double(),
            delta,
            width=max(delta.shape),
            dtype=torch.float32,
            factorised=True,
        )


def run_merged(registry, base, name, tmp_path):
    """Logits of ``name`` run by the hubcli engine and by PEFT from the registered files."""
    ids, mask = tiny_inputs()
    engine = load(copy.deepcopy(base), [name], registry=registry).forward(ids, mask).logits
    folder = registered_folder(registry, name, tmp_path / f"{name}-files")
    wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(base), folder).eval()
    with torch.no_grad():
        return engine, wrapped(input_ids=ids, attention_mask=mask).logits


def test_per_module_ranks_are_written_as_patterns_peft_reads(registry, tmp_path):
    """Inputs with a rank_pattern give merged modules of different ranks: the config carries
    them as rank_pattern/alpha_pattern on exact paths, and PEFT and hubcli read it the same."""
    base = tiny_model("llama", **ENGINE_OPTIONS["llama"])
    patterned = {"rank_pattern": {"v_proj": 2}, "alpha_pattern": {"v_proj": 3}}
    register(registry, peft_folder(base, tmp_path / "p", seed=5, **patterned), "p")
    register(registry, peft_folder(base, tmp_path / "q", seed=6), "q")
    merge_adapters(registry, "pq", ["p", "q"], make_spec(2, weights=[0.5, 0.5]))
    config = registry.get_adapter("pq").method_config
    assert config["r"] == 8 and set(config["rank_pattern"].values()) == {6}
    first = lora_deltas(registered_tensors(registry, "p"), SCALING)
    for module in [m for m in first if m.endswith("v_proj")]:
        first[module] *= (3 / 2) / SCALING
    second = lora_deltas(registered_tensors(registry, "q"), SCALING)
    expected = {m: 0.5 * first[m] + 0.5 * second[m] for m in first}
    ids, mask = tiny_inputs()
    with torch.no_grad():
        direct = with_deltas(base, expected)(input_ids=ids, attention_mask=mask).logits
    engine, by_peft = run_merged(registry, base, "pq", tmp_path)
    assert_outputs_close(engine, direct, base)
    assert_outputs_close(by_peft, direct, base)


def test_gpt2_conv1d_loras_merge_exactly(registry, tmp_path):
    """GPT-2 stores projections as [in, out] (fan_in_fan_out); A and B keep PEFT's orientation,
    so the same concatenation applies and PEFT and hubcli run the result alike."""

    base = tiny_model("gpt2", **ENGINE_OPTIONS["gpt2"])
    options = {"target_modules": ["c_attn", "c_fc"], "fan_in_fan_out": True}
    for name, seed in (("g1", 1), ("g2", 2)):
        register(registry, peft_folder(base, tmp_path / name, seed=seed, **options), name)
    merge_adapters(registry, "g", ["g1", "g2"], make_spec(2, method="task_arithmetic", weights=[0.5, 1.5]))
    engine, by_peft = run_merged(registry, base, "g", tmp_path)
    ids, mask = tiny_inputs()
    with torch.no_grad():
        plain = base(input_ids=ids, attention_mask=mask).logits
    assert_outputs_close(engine, by_peft, base)
    assert (engine - plain).abs().max().item() > 1e-2
    reference = peft.PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "g1", adapter_name="g1")
    reference.load_adapter(tmp_path / "g2", adapter_name="g2")
    reference.add_weighted_adapter(["g1", "g2"], [0.5, 1.5], "cat", combination_type="cat")
    reference.set_adapter("cat")
    with torch.no_grad():
        by_peft_cat = reference.eval()(input_ids=ids, attention_mask=mask).logits
    assert_outputs_close(engine, by_peft_cat, base)


def test_svd_is_the_weighted_sum_truncated_as_peft_svd(registry, two_loras, tmp_path):
    """``svd`` weights the inputs as given (like task arithmetic and PEFT's ``svd``): at full
    rank (Σ rᵢ = 8) it is the exact sum; by default it keeps the largest input rank (4) and is
    then the best rank-4 approximation, as PEFT's ``svd`` combination computes it."""
    weights = [0.7, -0.4]
    expected = dense_merge(registry, ["a", "b"], weights)
    full = merge_adapters(registry, "s8", ["a", "b"], make_spec(2, method="svd", weights=weights, rank=8))
    assert full.report["factoring"] == "svd" and full.report["ranks"] == [8]
    assert full.report["relative_frobenius_error"] < 1e-6
    for module, delta in merged_deltas(registry, "s8").items():
        assert_weights_close(delta, expected[module], width=8, dtype=torch.float32)

    default = merge_adapters(registry, "s", ["a", "b"], make_spec(2, method="svd", weights=weights))
    assert default.report["ranks"] == [4] and 0 < default.report["relative_frobenius_error"] < 1
    assert default.adapter.description.startswith("merge svd of a (w=0.7), b (w=-0.4); svd rank 4")
    wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(two_loras), tmp_path / "a", adapter_name="a")
    wrapped.load_adapter(tmp_path / "b", adapter_name="b")
    wrapped.add_weighted_adapter(["a", "b"], weights, "svd", combination_type="svd")
    got = merged_deltas(registry, "s")
    for module, delta in expected.items():
        u, s, vh = torch.linalg.svd(delta)
        best = u[:, :4] @ torch.diag(s[:4]) @ vh[:4]
        assert_weights_close(got[module], best, width=4, dtype=torch.float32)
        by_peft = wrapped.base_model.model.get_submodule(module).get_delta_weight("svd").double()
        assert_weights_close(
            got[module], by_peft, width=max(best.shape), dtype=torch.float32, factorised=True
        )


def test_dare_ties_agrees_with_peft_dare_ties_svd_on_the_same_masks(
    registry, two_loras, tmp_path, monkeypatch
):
    """PEFT's ``dare_ties`` on LoRA drops entries of A and B separately; its ``dare_ties_svd``
    works on ΔW, as ours does. PEFT draws its masks with ``torch.bernoulli`` from the global
    generator, so its ``random_pruning`` is handed ours: the masks our seeded generator draws
    (modules in sorted order, inputs in order). With weights 1 PEFT's sign election and
    count-based disjoint mean are ours, so at full rank both store the same dense ΔW, and so
    does the two-input rule by hand: agreeing signs average, otherwise the larger entry wins."""
    from peft.utils import merge_utils

    density, seed = 0.5, 7
    spec = make_spec(2, method="dare_ties", density=density, rank=64, seed=seed)
    outcome = merge_adapters(registry, "dt", ["a", "b"], spec)
    assert outcome.report["relative_frobenius_error"] < 1e-6  # rank 64 ≥ every module's size
    assert "; density=0.5, seed=7, svd rank " in outcome.adapter.description

    deltas = [lora_deltas(registered_tensors(registry, n), SCALING) for n in ("a", "b")]
    generator = torch.Generator().manual_seed(seed)
    kept = {
        (module, i): torch.rand(deltas[i][module].shape, generator=generator, dtype=torch.float64) < density
        for module in sorted(deltas[0])
        for i in range(2)
    }

    def our_masks(tensor: torch.Tensor, density: float, rescale: bool) -> torch.Tensor:
        (mask,) = [
            mask
            for (module, i), mask in kept.items()
            if deltas[i][module].shape == tensor.shape
            and torch.allclose(deltas[i][module].float(), tensor, atol=1e-5)
        ]
        return torch.where(mask, tensor / density, 0.0)

    monkeypatch.setattr(merge_utils, "random_pruning", our_masks)
    wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(two_loras), tmp_path / "a", adapter_name="a")
    wrapped.load_adapter(tmp_path / "b", adapter_name="b")
    wrapped.add_weighted_adapter(
        ["a", "b"],
        [1.0, 1.0],
        "dt",
        combination_type="dare_ties_svd",
        density=density,
        svd_rank=64,
        svd_full_matrices=False,
    )
    for module, delta in merged_deltas(registry, "dt").items():
        by_peft = wrapped.base_model.model.get_submodule(module).get_delta_weight("dt").double()
        assert_weights_close(by_peft, delta, width=max(delta.shape), dtype=torch.float32, factorised=True)
        first, second = (torch.where(kept[(module, i)], deltas[i][module] / density, 0.0) for i in range(2))
        larger = torch.where(first.abs() >= second.abs(), first, second)
        by_hand = torch.where(torch.sign(first) == torch.sign(second), (first + second) / 2, larger)
        assert_weights_close(by_hand, delta, width=max(delta.shape), dtype=torch.float32, factorised=True)
        assert bool((first != 0).logical_xor(second != 0).any()), "the masks dropped nothing"

"""Routing through compositions on real adapters (the AdapterHub goldens' tiny BERT).

Per-row batch-split against running each row alone, the gathered low-rank path against a plain
loop, nesting, parallel with one head per child, sizes that do not add up, and the refusals.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hubcli.compose import gathered
from hubcli.compose.setup import activate, deactivate, outputs_per_child, per_row
from hubcli.engine import StitchedModel, read_adapter
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder, CompositionError, LowRankUpdate, SpecError
from hubcli.testing import tiny_model
from hubcli.testing.tolerance import assert_outputs_close, tolerance

GOLDENS = Path(__file__).parent / "golden" / "adapterhub"


def bert(registry, *adapters: str, family: str = "bert", dtype: torch.dtype = torch.float32) -> StitchedModel:
    """The goldens' tiny ``family`` model (BERT unless said) with ``adapters`` attached."""
    from transformers import AutoModel

    folder = GOLDENS / family
    model = AutoModel.from_pretrained(folder / "base", attn_implementation="eager").eval().to(dtype)
    stitched = StitchedModel(model)
    known = {adapter.name for adapter in registry.list_adapters()}
    for name in adapters:
        if name not in known:
            import_adapter(registry, AdapterFolder(folder / "adapters" / name), name=name)
        stitched.attach(read_adapter(registry, name))
    return stitched


def batch(rows: int) -> dict[str, torch.Tensor]:
    """``rows`` different rows of 7 tokens, the odd ones with their last position padded."""
    generator = torch.Generator().manual_seed(rows)
    ids = torch.randint(3, 100, (rows, 7), generator=generator)
    mask = torch.ones(rows, 7, dtype=torch.long)
    mask[1::2, -1] = 0
    return {"input_ids": ids, "attention_mask": mask}


def hidden(stitched: StitchedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.inference_mode():
        return stitched.model(**inputs).last_hidden_state


def each_row_alone(
    stitched: StitchedModel, inputs: dict[str, torch.Tensor], specs: list[str | None]
) -> torch.Tensor:
    rows = []
    for i, spec in enumerate(specs):
        if spec is None:
            deactivate(stitched)
        else:
            activate(stitched, spec)
        rows.append(hidden(stitched, {k: v[i : i + 1] for k, v in inputs.items()}))
    return torch.cat(rows)


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_per_row_loras_equal_each_row_alone_and_use_the_gathered_path(registry, monkeypatch, family):
    """Different ranks and targets (lora_full adds k and the feed-forward projections; GPT-2's
    fused c_attn, Llama's grouped k/v) in one batch."""
    stitched = bert(registry, "lora", "lora_2", "lora_full", family=family)
    names = ["lora_full", None, "lora", "lora_2", "lora", None, "lora_2", "lora_full"]
    inputs = batch(len(names))
    expected = each_row_alone(stitched, inputs, names)

    calls = []
    real = gathered.gathered_low_rank
    monkeypatch.setattr(gathered, "gathered_low_rank", lambda *a, **k: calls.append(1) or real(*a, **k))
    per_row(stitched, names)
    got = hidden(stitched, inputs)
    assert_outputs_close(got, expected, stitched)
    assert len(calls) == len(stitched.slots)  # one gathered product per adapted projection
    assert not torch.allclose(expected[0], hidden_of_base(stitched, inputs)[0], atol=1e-3)


def hidden_of_base(stitched: StitchedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    deactivate(stitched)
    return hidden(stitched, inputs)


def test_per_row_mixed_methods_equal_each_row_alone(registry):
    """IA³ and bottleneck rows have no low-rank form: they are grouped per adapter instead."""
    stitched = bert(registry, "lora", "ia3", "seq_bn", "double_seq_bn")
    names = ["seq_bn", "ia3", None, "lora", "double_seq_bn", "ia3", "lora"]
    inputs = batch(len(names))
    expected = each_row_alone(stitched, inputs, names)
    per_row(stitched, names)
    assert_outputs_close(hidden(stitched, inputs), expected, stitched)


def test_gathered_low_rank_equals_a_loop_and_follows_weight_changes():
    from hubcli.engine.slots import ActiveSetup, AdapterSlot
    from hubcli.plugin_api.torch_modules import LeafAdapter

    torch.manual_seed(0)

    class Plain(LeafAdapter):
        def __init__(self, rank: int) -> None:
            super().__init__()
            self.a = torch.nn.Parameter(torch.randn(rank, 6), requires_grad=False)
            self.b = torch.nn.Parameter(torch.randn(5, rank), requires_grad=False)
            self.s = 0.5 * rank

        def low_rank_factors(self):
            return LowRankUpdate(A=self.a, B=self.b, scaling=self.s)

    slot = AdapterSlot(torch.nn.Linear(6, 5), ActiveSetup())
    for name, rank in (("p0", 2), ("p2", 4), ("p3", 1)):
        slot.adapters[name] = Plain(rank)
    names = ["p0", None, "p2", "p3"]
    rows = torch.tensor([2, -1, 0, 3, 2, 1])
    x = torch.randn(6, 3, 6)

    def assert_low_rank_close(got: torch.Tensor, want: torch.Tensor) -> None:
        """One projection's s·x·Aᵀ·Bᵀ: two chained reductions of width at most 6 (in, or rank)."""
        limit = tolerance(torch.float32, width=6, stages=2, scale=want.abs().max().item())
        assert (got - want).abs().max().item() <= limit

    def loop() -> torch.Tensor:
        expected = torch.zeros(6, 3, 5)
        for i, row in enumerate(rows.tolist()):
            if row >= 0 and names[row] is not None:
                adapter = slot.adapters[names[row]]
                expected[i] = adapter.s * x[i] @ adapter.a.T @ adapter.b.T
        return expected

    with torch.inference_mode():
        assert_low_rank_close(gathered.gathered_low_rank(slot, names, rows, x), loop())
    with torch.no_grad():
        slot.adapters["p2"].b.mul_(3)  # in place: the cached stacks must notice
    with torch.inference_mode():
        assert_low_rank_close(gathered.gathered_low_rank(slot, names, rows, x), loop())
    slot.adapters["p0"] = Plain(3)  # a new module under an old name
    with torch.inference_mode():
        assert_low_rank_close(gathered.gathered_low_rank(slot, names, rows, x), loop())


def test_nested_blocks_equal_their_rows_alone(registry):
    stitched = bert(registry, "seq_bn", "seq_bn_2", "lora", "double_seq_bn")
    left, right = "stack(seq_bn, lora)", "average(seq_bn_2, double_seq_bn, weights=[0.25, 0.75])"
    inputs = batch(3)
    expected = each_row_alone(stitched, inputs, [left, left, right])
    activate(stitched, f"batch_split({left}, {right}, sizes=[2, 1])")
    assert_outputs_close(hidden(stitched, inputs), expected, stitched)


def test_split_cuts_the_sequence(registry):
    """split(a, a) is a; split(a, b) is neither a nor b; sizes must cover the sequence."""
    stitched = bert(registry, "seq_bn", "par_bn")
    inputs = batch(2)
    activate(stitched, "seq_bn")
    first = hidden(stitched, inputs)
    activate(stitched, "par_bn")
    second = hidden(stitched, inputs)
    activate(stitched, "split(seq_bn, seq_bn, sizes=[3, 4])")
    assert_outputs_close(hidden(stitched, inputs), first, stitched)
    activate(stitched, "split(seq_bn, par_bn, sizes=[3, 4])")
    got = hidden(stitched, inputs)
    assert not torch.allclose(got, first, atol=1e-3) and not torch.allclose(got, second, atol=1e-3)
    activate(stitched, "split(seq_bn, par_bn, sizes=[3, 3])")
    with pytest.raises(CompositionError, match=r"sizes \[3, 3\] add up to 6, but the sequence length is 7"):
        hidden(stitched, inputs)


def test_parallel_gives_one_output_and_one_head_per_child(registry):
    stitched = bert(registry, "lora_head", "seq_bn_head")
    inputs = batch(2)
    singles = []
    for name in ("lora_head", "seq_bn_head"):
        activate(stitched, name)
        with torch.inference_mode():
            singles.append(stitched.model(**inputs))
    setup = activate(stitched, "parallel(lora_head, seq_bn_head)")
    with torch.inference_mode():
        output = stitched.model(**inputs)
    assert output.logits.shape == (4, 3)
    for single, part in zip(singles, outputs_per_child(output, setup), strict=True):
        for key in ("logits", "last_hidden_state"):
            assert_outputs_close(part[key], single[key], stitched)


def test_batch_split_sizes_must_add_up_to_the_batch(registry):
    stitched = bert(registry, "lora", "lora_2")
    activate(stitched, "batch_split(lora, lora_2, sizes=[1, 2])")
    with pytest.raises(CompositionError, match="add up to 3, but the batch size is 2"):
        hidden(stitched, batch(2))


def test_refusals_name_what_is_wrong(registry):
    stitched = bert(registry, "lora", "lora_2", "seq_bn", "prefix_tuning")
    refusals = {
        "split(lora, seq_bn, sizes=[3, 4])": "architecture 'lora' (adapter 'lora') does not support the 'split' block",
        "fuse(seq_bn, lora)": "architecture 'lora' (adapter 'lora') does not support the 'fuse' block",
        "stack(lora, nope)": "adapter 'nope' is not attached",
        "batch_split(prefix_tuning, lora, sizes=[1, 1])": "works on the model's inputs",
        "average(lora)": "average: takes at least 2 children, got 1",
        "average(lora, lora_2, weights=[1, -1])": "weights must be non-negative",
    }
    for spec, message in refusals.items():
        with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
            activate(stitched, spec)


def test_engine_activate_after_a_composition_is_a_plain_stack(registry):
    stitched = bert(registry, "lora", "lora_2")
    inputs = batch(2)
    activate(stitched, "average(lora, lora_2)")
    stitched.activate("lora")
    via_engine = hidden(stitched, inputs)
    activate(stitched, "lora")
    assert torch.equal(via_engine, hidden(stitched, inputs))
    assert json.dumps(list(stitched.active)) == '["lora"]'


def test_average_runs_in_bfloat16(registry):
    """``adapters``' Average fails in bf16 (a float32 weight tensor); hubcli's weights are plain
    numbers, so the output stays in the model's dtype and close to float32's."""
    spec = "average(seq_bn, seq_bn_2, weights=[0.7, 0.3])"
    reference = bert(registry, "seq_bn", "seq_bn_2")
    activate(reference, spec)
    half = bert(registry, "seq_bn", "seq_bn_2", dtype=torch.bfloat16)
    activate(half, spec)
    inputs = batch(2)
    got = hidden(half, inputs)
    assert got.dtype == torch.bfloat16
    assert (got.float() - hidden(reference, inputs)).abs().max().item() < 0.1


def test_prefix_stacked_over_a_parallel_block_sees_every_replica(registry):
    """stack(prefix, parallel(a, b)): the inputs are repeated before the prefix is prepared, so
    replica i equals stack(prefix, child i) on its own."""
    stitched = bert(registry, "prefix_tuning", "lora", "seq_bn")
    inputs = batch(2)
    singles = []
    for child in ("lora", "seq_bn"):
        activate(stitched, f"stack(prefix_tuning, {child})")
        singles.append(hidden(stitched, inputs))
    setup = activate(stitched, "stack(prefix_tuning, parallel(lora, seq_bn))")
    with torch.inference_mode():
        parts = outputs_per_child(stitched.model(**inputs), setup)
    for single, part in zip(singles, parts, strict=True):
        assert_outputs_close(part["last_hidden_state"], single, stitched)


def test_parallel_uses_each_childs_peft_classifier_head(registry, tmp_path):
    """PEFT SEQ_CLS adapters carry their own classifier (modules_to_save, the engine's
    HeadSlot): parallel gives replica i the head of child i, batch_split row i its child's."""
    import copy

    import peft

    base = tiny_model("bert", random_biases=False)
    for seed, name in enumerate(("cls_a", "cls_b")):
        wrapped = peft.get_peft_model(
            copy.deepcopy(base),
            peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"]),
        )
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for key, param in wrapped.named_parameters():
                if "lora_" in key or "modules_to_save" in key:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
        wrapped.save_pretrained(tmp_path / name)
        import_adapter(registry, AdapterFolder(tmp_path / name), name=name)
    stitched = StitchedModel(copy.deepcopy(base))
    for name in ("cls_a", "cls_b"):
        stitched.attach(read_adapter(registry, name))
    inputs = batch(2)
    singles = []
    with torch.inference_mode():
        for name in ("cls_a", "cls_b"):
            activate(stitched, name)
            singles.append(stitched.model(**inputs).logits)
        setup = activate(stitched, "parallel(cls_a, cls_b)")
        parts = outputs_per_child(stitched.model(**inputs), setup)
        activate(stitched, "batch_split(cls_a, cls_b, rows=[1, 0])")
        rows = stitched.model(**inputs).logits
    assert not torch.allclose(singles[0], singles[1], atol=1e-3)
    for single, part in zip(singles, parts, strict=True):
        assert_outputs_close(part["logits"], single, stitched)
    assert_outputs_close(rows, torch.stack([singles[1][0], singles[0][1]]), stitched)

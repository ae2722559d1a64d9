"""The engine against PEFT: the same saved adapter gives the same outputs (float32, within
``hubcli.testing.tolerance``).

Each case creates an adapter with PEFT on a tiny model, randomises its weights, saves it, imports
the folder into a fresh registry with ``import_adapter``, attaches it to an untouched copy of the
base model with hubcli, and compares outputs with PEFT's on a padded batch. PEFT returns the
virtual-token positions of prompt tuning for causal LMs; hubcli drops them, so the comparison
uses PEFT's ``[:, n:]``.

Prefix tuning on BERT and RoBERTa is the exception: PEFT 0.21.2 cannot run it on transformers
≥ 5.24, so those cases always take adapter and reference from the PEFT goldens (written under
the locked versions, tests/golden/README.md), whatever transformers is installed.
"""

from __future__ import annotations

import pytest
import torch

from hubcli.engine import load
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder
from hubcli.testing import model_output, tiny_inputs
from hubcli.testing.tolerance import assert_outputs_close
from tests.helpers import peft_goldens
from tests.helpers.tiny_models import FAMILIES, peft_adapter

METHODS = ("lora", "rslora", "dora", "rank_pattern", "ia3", "prefix", "prompt")
MERGEABLE = ("lora", "rslora", "dora", "rank_pattern", "ia3")


def _stitched(registry, tmp_path, family: str, method: str):
    """(stitched model, PEFT's output, the base's output, (input_ids, attention_mask))."""
    name = f"{family}-{method}"
    if (method, family) in peft_goldens.GOLDEN_ONLY:
        base = peft_goldens.base_model(family)
        ids, mask = peft_goldens.inputs(family)
        import_adapter(registry, AdapterFolder(peft_goldens.adapter_dir(f"{family}/{method}")), name=name)
        expected = peft_goldens.expected(f"{family}/{method}")["logits"]
    else:
        base, wrapped = peft_adapter(family, method, tmp_path / "adapter")
        ids, mask = tiny_inputs()
        import_adapter(registry, AdapterFolder(tmp_path / "adapter"), name=name)
        with torch.no_grad():
            expected = model_output(wrapped(input_ids=ids, attention_mask=mask))
        if method == "prompt" and expected.dim() == 3:
            expected = expected[:, wrapped.peft_config["default"].num_virtual_tokens :]
    with torch.no_grad():
        base_output = model_output(base(input_ids=ids, attention_mask=mask)).clone()
    stitched = load(base, [name], registry=registry)
    return stitched, expected, base_output, (ids, mask)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_same_outputs_as_peft(registry, tmp_path, family, method):
    stitched, expected, base_output, (ids, mask) = _stitched(registry, tmp_path, family, method)
    got = model_output(stitched.forward(ids, mask))
    assert_outputs_close(got, expected, stitched)
    assert not torch.allclose(got, base_output, atol=1e-3), "the adapter changed nothing"

    stitched.deactivate()
    assert torch.equal(model_output(stitched.forward(ids, mask)), base_output)

    if method in MERGEABLE:
        stitched.activate(f"{family}-{method}")
        weights = {k: v.clone() for k, v in stitched.model.state_dict().items()}
        stitched.merge(f"{family}-{method}")
        assert_outputs_close(model_output(stitched.forward(ids, mask)), got, stitched)
        assert any(not torch.equal(v, stitched.model.state_dict()[k]) for k, v in weights.items())
        stitched.unmerge(f"{family}-{method}")
        after = stitched.model.state_dict()
        assert all(torch.equal(v, after[k]) for k, v in weights.items())
        assert torch.equal(model_output(stitched.forward(ids, mask)), got)


@pytest.mark.parametrize("case", peft_goldens.adapter_cases(), ids=lambda case: case["id"])
def test_prefix_on_encoders_gives_the_peft_goldens_at_every_layer(registry, case):
    """hubcli's own prefix tuning on BERT and RoBERTa, on whatever transformers is installed,
    against what PEFT gave under the locked versions: logits and every hidden state."""
    family = case["model"]
    import_adapter(registry, AdapterFolder(peft_goldens.adapter_dir(case["id"])), name="px")
    stitched = load(peft_goldens.base_model(family), ["px"], registry=registry)
    ids, mask = peft_goldens.inputs(family)
    want = peft_goldens.expected(case["id"])
    with torch.no_grad():
        output = stitched.forward(ids, mask, output_hidden_states=True)
    assert_outputs_close(output.logits, want["logits"], stitched, what="logits")
    assert_outputs_close(
        torch.stack(output.hidden_states), want["hidden_states"], stitched, what="hidden states"
    )
    base = peft_goldens.expected(f"{family}/base")["hidden_states"]
    assert (want["hidden_states"][-1] - base[-1]).abs().max().item() > 1e-2, "the prefix changed nothing"


@pytest.mark.parametrize("family", sorted({family for _, family in peft_goldens.GOLDEN_ONLY}))
def test_the_peft_golden_bases_reproduce_their_outputs(family):
    """The stored base models give, on the installed transformers, what they gave under the
    locked one: a difference in an adapter case is then the adapter's."""
    base = peft_goldens.base_model(family)
    ids, mask = peft_goldens.inputs(family)
    want = peft_goldens.expected(f"{family}/base")
    with torch.no_grad():
        output = base(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    assert_outputs_close(output.logits, want["logits"], base, what="logits")
    assert_outputs_close(torch.stack(output.hidden_states), want["hidden_states"], base, what="hidden states")

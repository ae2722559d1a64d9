"""The engine against PEFT: the same saved adapter gives the same outputs (≤ 1e-5, float32).

Each case creates an adapter with PEFT on a tiny model, randomises its weights, saves it, imports
the folder into a fresh registry with ``import_adapter``, attaches it to an untouched copy of the
base model with hubcli, and compares outputs with PEFT's on a padded batch. PEFT returns the
virtual-token positions of prompt tuning for causal LMs; hubcli drops them, so the comparison
uses PEFT's ``[:, n:]``.
"""

from __future__ import annotations

import pytest
import torch

from hubcli.adapter_folder import AdapterFolder
from hubcli.engine import load
from hubcli.importer import import_adapter
from tests.helpers.tiny_models import FAMILIES, inputs, output_of, peft_adapter

METHODS = ("lora", "rslora", "dora", "rank_pattern", "ia3", "prefix", "prompt")
MERGEABLE = ("lora", "rslora", "dora", "rank_pattern", "ia3")
TOLERANCE = 1e-5


def _stitched(registry, tmp_path, family: str, method: str):
    base, wrapped = peft_adapter(family, method, tmp_path / "adapter")
    import_adapter(registry, AdapterFolder(tmp_path / "adapter"), name=f"{family}-{method}")
    ids, mask = inputs()
    with torch.no_grad():
        base_output = output_of(base(input_ids=ids, attention_mask=mask)).clone()
        expected = output_of(wrapped(input_ids=ids, attention_mask=mask))
    if method == "prompt" and expected.dim() == 3:
        expected = expected[:, wrapped.peft_config["default"].num_virtual_tokens :]
    stitched = load(base, [f"{family}-{method}"], registry=registry)
    return stitched, expected, base_output


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_same_outputs_as_peft(registry, tmp_path, family, method):
    stitched, expected, base_output = _stitched(registry, tmp_path, family, method)
    ids, mask = inputs()
    got = output_of(stitched.forward(ids, mask))
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= TOLERANCE
    assert not torch.allclose(got, base_output, atol=1e-3), "the adapter changed nothing"

    stitched.deactivate()
    assert torch.equal(output_of(stitched.forward(ids, mask)), base_output)

    if method in MERGEABLE:
        stitched.activate(f"{family}-{method}")
        weights = {k: v.clone() for k, v in stitched.model.state_dict().items()}
        stitched.merge(f"{family}-{method}")
        assert (output_of(stitched.forward(ids, mask)) - got).abs().max().item() <= TOLERANCE
        assert any(not torch.equal(v, stitched.model.state_dict()[k]) for k, v in weights.items())
        stitched.unmerge(f"{family}-{method}")
        after = stitched.model.state_dict()
        assert all(torch.equal(v, after[k]) for k, v in weights.items())
        assert torch.equal(output_of(stitched.forward(ids, mask)), got)

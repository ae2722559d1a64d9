"""New BitFit adapters for a trainer (``ArchitecturePlugin.untrained``): zero deltas on every
projection bias (or the targets asked for), a head sized for the labels, and trainable through
the parameters the engine holds, as a trainer finds them."""

from __future__ import annotations

import pytest
import torch
from hubcli.plugin_api import HubcliError, LoadedAdapter
from hubcli.testing import model_output, stitched_model, tiny_inputs, tiny_model

from hubcli_bitfit import BitFitArchitecture


def fresh(family: str, options=None, task_type="SEQ_CLS", labels=("no", "yes")):
    stitched = stitched_model(tiny_model(family))
    return stitched, BitFitArchitecture().untrained(stitched, options or {}, task_type, list(labels))


def test_every_projection_bias_by_default_and_a_head_for_the_labels() -> None:
    _, adapter = fresh("bert")
    assert adapter.config["targets"] == [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    ]
    deltas = {k: v for k, v in adapter.tensors.items() if not k.startswith("classifier.")}
    assert len(deltas) == 2 * 6 and all(not v.any() for v in deltas.values())
    assert adapter.config["modules_to_save"] == ["classifier"]
    assert adapter.tensors["classifier.weight"].shape == (2, 32)


def test_options_narrow_the_targets_and_language_models_get_no_head() -> None:
    _, adapter = fresh("gpt2", {"targets": "c_attn"}, task_type="CAUSAL_LM", labels=())
    assert sorted(adapter.tensors) == ["transformer.h.0.attn.c_attn.bias", "transformer.h.1.attn.c_attn.bias"]
    assert adapter.config["modules_to_save"] == []
    with pytest.raises(HubcliError, match=r"bitfit: unknown option 'rank' \(allowed: targets\)"):
        fresh("gpt2", {"rank": "4"})
    with pytest.raises(
        HubcliError, match=r"targets \['q_proj'\] match no projection with a bias in this llama model"
    ):
        fresh("llama", {"targets": "q_proj"}, task_type="CAUSAL_LM")


def test_a_few_steps_of_training_fit_two_rows() -> None:
    """Only the adapter's parameters move: the biases and the new head learn two labels."""
    stitched, adapter = fresh("bert")
    base = {id(p) for p in stitched.model.parameters()}
    stitched.attach(
        LoadedAdapter(
            "new",
            "bitfit",
            "native",
            {"targets": adapter.config["targets"], "modules_to_save": ["classifier"]},
            adapter.config,
            adapter.tensors,
        )
    )
    stitched.activate("new")
    stitched.model.requires_grad_(False)
    trainable = [p for p in stitched.model.parameters() if id(p) not in base]
    for parameter in trainable:
        parameter.requires_grad_(True)
    optimiser = torch.optim.Adam(trainable, lr=0.05)
    ids, mask = tiny_inputs()
    labels = torch.tensor([0, 1])
    for _ in range(30):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            stitched.model(input_ids=ids, attention_mask=mask).logits, labels
        )
        loss.backward()
        optimiser.step()
    assert model_output(stitched.forward(ids, mask)).argmax(-1).tolist() == [0, 1]
    assert loss.item() < 0.1

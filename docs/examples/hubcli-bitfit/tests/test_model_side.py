"""What BitFit means on a model: y = W x + b + δ. Checked against the tiny model with its biases
shifted by hand, alone, stacked and averaged; models that cannot take the deltas are refused."""

from __future__ import annotations

import copy

import pytest
import torch
from hubcli.plugin_api import ModelMismatchError
from hubcli.testing import activate_composition, model_output, stitch, tiny_inputs, tiny_model
from hubcli.testing.tolerance import assert_outputs_close

from bitfit_helpers import random_deltas, write_bitfit
from hubcli_bitfit import average_bitfit, save_bitfit


def shifted(model, *deltas) -> torch.Tensor:
    """The output of a copy of ``model`` whose biases were shifted by every delta given."""
    expected = copy.deepcopy(model)
    parameters = dict(expected.named_parameters())
    with torch.no_grad():
        for delta in deltas:
            for name, value in delta.items():
                parameters[name].add_(value)
    ids, mask = tiny_inputs()
    with torch.inference_mode():
        return model_output(expected(input_ids=ids, attention_mask=mask))


def registered(run_hubcli, folder, name: str) -> None:
    result = run_hubcli("add", folder, "--name", name)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_one_adapter_shifts_the_biases(family, tmp_path, run_hubcli, temp_registry) -> None:
    model = tiny_model(family)
    delta = write_bitfit(tmp_path / "a", model, family)
    registered(run_hubcli, tmp_path / "a", "a")
    expected = shifted(model, delta)
    stitched = stitch(model, ["a"], registry=temp_registry)  # attaches to ``model`` itself
    output = model_output(stitched.forward(*tiny_inputs()))
    assert_outputs_close(output, expected, model)


def test_stacked_adapters_add_and_average_mixes_like_averaged_parameters(
    tmp_path, run_hubcli, temp_registry
) -> None:
    model = tiny_model("bert")
    first = write_bitfit(tmp_path / "a", model, "bert", seed=1)
    second = write_bitfit(tmp_path / "b", model, "bert", seed=2)
    averaged = average_bitfit([first, second], [0.25, 0.75])
    save_bitfit(
        tmp_path / "avg", averaged, ["query", "value", "output.dense"], model_type="bert", task_type="SEQ_CLS"
    )
    for name in ("a", "b", "avg"):
        registered(run_hubcli, tmp_path / name, name)
    ids, mask = tiny_inputs()
    expected_stack, expected_average = shifted(model, first, second), shifted(model, averaged)

    stitched = stitch(model, ["a", "b", "avg"], registry=temp_registry, activate=False)
    stitched.activate("a", "b")
    stacked = model_output(stitched.forward(ids, mask))
    assert_outputs_close(stacked, expected_stack, model)

    activate_composition(stitched, "average(a, b, weights=[1, 3])")
    mixed = model_output(stitched.forward(ids, mask))
    stitched.activate("avg")
    assert_outputs_close(mixed, model_output(stitched.forward(ids, mask)), model)
    assert_outputs_close(mixed, expected_average, model)


def test_batch_split_gives_each_row_its_own_adapter(tmp_path, run_hubcli, temp_registry) -> None:
    model = tiny_model("gpt2")
    first = write_bitfit(tmp_path / "a", model, "gpt2", seed=1)
    second = write_bitfit(tmp_path / "b", model, "gpt2", seed=2)
    for name in ("a", "b"):
        registered(run_hubcli, tmp_path / name, name)
    by_first, by_second = shifted(model, first), shifted(model, second)
    stitched = stitch(model, ["a", "b"], registry=temp_registry, activate=False)
    activate_composition(stitched, "batch_split(a, b, rows=[1, 0])")
    routed = model_output(stitched.forward(*tiny_inputs()))
    assert_outputs_close(routed[0], by_second[0], model)
    assert_outputs_close(routed[1], by_first[1], model)


def test_a_saved_head_with_its_own_label_count_replaces_the_base_head(
    tmp_path, run_hubcli, temp_registry
) -> None:
    model = tiny_model("bert")  # 3 labels
    delta = random_deltas(model, ["query"])
    head = {"classifier.weight": torch.randn(2, 32), "classifier.bias": torch.randn(2)}
    save_bitfit(
        tmp_path / "h", delta, ["query"], head=head, modules_to_save=["classifier"], task_type="SEQ_CLS"
    )
    registered(run_hubcli, tmp_path / "h", "h")
    reference = copy.deepcopy(model)
    reference.classifier = torch.nn.Linear(32, 2)
    with torch.no_grad():
        reference.classifier.weight.copy_(head["classifier.weight"])
        reference.classifier.bias.copy_(head["classifier.bias"])
    expected = shifted(reference, delta)

    stitched = stitch(model, ["h"], registry=temp_registry)
    assert_outputs_close(model_output(stitched.forward(*tiny_inputs())), expected, model)
    stitched.deactivate()
    assert model_output(stitched.forward(*tiny_inputs())).shape[-1] == 3  # the base head is back


def test_a_model_without_biases_is_refused(tmp_path, run_hubcli, temp_registry) -> None:
    llama = tiny_model("llama")
    save_bitfit(tmp_path / "l", {"model.layers.0.self_attn.q_proj.bias": torch.ones(32)}, ["q_proj"])
    registered(run_hubcli, tmp_path / "l", "l")
    with pytest.raises(
        ModelMismatchError, match=r"'model.layers.0.self_attn.q_proj' has no bias .*BitFit needs one"
    ):
        stitch(llama, ["l"], registry=temp_registry)


def test_a_delta_of_the_wrong_size_is_refused_before_anything_changes(
    tmp_path, run_hubcli, temp_registry
) -> None:
    model = tiny_model("bert")
    before = {name: type(module) for name, module in model.named_modules()}
    save_bitfit(tmp_path / "w", {"bert.encoder.layer.0.attention.self.query.bias": torch.ones(16)}, ["query"])
    registered(run_hubcli, tmp_path / "w", "w")
    with pytest.raises(
        ModelMismatchError,
        match=r"shape \[16\] but 'bert.encoder.layer.0.attention.self.query' has a bias of shape \[32\]",
    ):
        stitch(model, ["w"], registry=temp_registry)
    assert {name: type(module) for name, module in model.named_modules()} == before

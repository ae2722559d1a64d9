"""The Phi family against the kit's contract check and against PEFT: a LoRA PEFT made on a tiny
Phi gives the same output through hubcli as through PEFT itself."""

from __future__ import annotations

import copy
import dataclasses
import json

import peft
import pytest
import torch
from hubcli.testing import check_model_family_plugin, model_output, stitch, tiny_inputs
from hubcli.testing.models import TINY_INPUT_IDS
from hubcli.testing.tolerance import assert_outputs_close

from hubcli_phi import PhiFamily
from phi_helpers import tiny_phi

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"]


@pytest.mark.parametrize("head", ["causal_lm", "seq_cls"])
def test_the_kit_passes_the_family(head) -> None:
    check_model_family_plugin(PhiFamily(), tiny_phi(head))


def test_the_kit_names_a_wrong_path() -> None:
    class Misnamed(PhiFamily):
        points = dataclasses.replace(PhiFamily.points, o="self_attn.o_proj")

    with pytest.raises(AssertionError, match=r"model family: layer 0 o: no module 'self_attn.o_proj'"):
        check_model_family_plugin(Misnamed(), tiny_phi())


def write_peft_lora(folder, model: torch.nn.Module, task_type: str) -> torch.Tensor:
    """A LoRA PEFT saves for ``model`` with random trained values (PEFT starts B at zero);
    returns PEFT's own output for the kit's tiny inputs, the reference."""
    wrapped = peft.get_peft_model(
        copy.deepcopy(model),
        peft.LoraConfig(task_type=task_type, r=4, lora_alpha=6, target_modules=LORA_TARGETS),
    )
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in wrapped.named_parameters():
            if "lora_" in name or "modules_to_save.default" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    wrapped.save_pretrained(folder)
    ids, mask = tiny_inputs()
    with torch.inference_mode():
        expected = model_output(wrapped.eval()(input_ids=ids, attention_mask=mask))
        assert not torch.allclose(
            expected, model_output(model(input_ids=ids, attention_mask=mask)), atol=1e-3
        )
    return expected


@pytest.mark.parametrize(("head", "task_type"), [("causal_lm", "CAUSAL_LM"), ("seq_cls", "SEQ_CLS")])
def test_a_peft_lora_runs_the_same_through_hubcli(
    head, task_type, tmp_path, run_hubcli, temp_registry
) -> None:
    model = tiny_phi(head)
    expected = write_peft_lora(tmp_path / "lora", model, task_type)
    ids, mask = tiny_inputs()
    added = run_hubcli("add", tmp_path / "lora", "--name", "phi-lora")
    assert added.exit_code == 0, added.stderr
    stitched = stitch(model, ["phi-lora"], registry=temp_registry)
    assert stitched.family.name == "phi"
    assert_outputs_close(model_output(stitched.forward(ids, mask)), expected, model)


def test_the_cli_lists_the_installed_family(run_hubcli) -> None:
    rows = {(row["kind"], row["name"]): row for row in run_hubcli("plugins", "--check", "--json").json()}
    assert (rows[("model", "phi")]["distribution"], rows[("model", "phi")]["status"]) == (
        "hubcli-phi",
        "loaded",
    )


def test_hubcli_predict_loads_a_phi_base_from_its_folder(tmp_path, run_hubcli) -> None:
    """The CLI path: the base is read from disk and its family found by ``model_type``."""
    model = tiny_phi("seq_cls")
    model.save_pretrained(tmp_path / "base")
    expected = write_peft_lora(tmp_path / "lora", model, "SEQ_CLS")
    assert run_hubcli("add", tmp_path / "lora", "--name", "phi-lora").exit_code == 0
    predicted = run_hubcli(
        "predict", tmp_path / "base", "phi-lora", "--input-ids", json.dumps(TINY_INPUT_IDS), "--json"
    )
    assert predicted.exit_code == 0, predicted.stderr
    # the first row has no padding: the same with or without the attention mask predict leaves out
    assert_outputs_close(torch.tensor(predicted.json()["values"])[0], expected[0], model)

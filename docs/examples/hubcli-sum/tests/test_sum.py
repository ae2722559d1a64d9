"""``sum(a, b)`` on a tiny BERT with two LoRAs PEFT made, against the sum computed directly
from PEFT's own merged weights, and the spec checks a user meets before any model loads."""

from __future__ import annotations

import copy
from pathlib import Path

import peft
import pytest
import torch
from hubcli.plugin_api import SpecError
from hubcli.testing import activate_composition, model_output, stitch, tiny_inputs, tiny_model
from hubcli.testing.tolerance import assert_outputs_close

TARGETS = ["query", "value", "output.dense"]


def write_lora(folder: Path, model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A LoRA PEFT saves, with random trained values (PEFT starts B at zero); returns the base
    with this LoRA merged by PEFT, the reference for its change ΔW."""
    config = peft.LoraConfig(r=4, lora_alpha=6, target_modules=TARGETS)
    wrapped = peft.get_peft_model(copy.deepcopy(model), config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in wrapped.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    wrapped.save_pretrained(folder)
    return wrapped.merge_and_unload()


def with_changes_added(base: torch.nn.Module, *merged: torch.nn.Module) -> torch.nn.Module:
    """``base`` with every merged model's change (its weights minus the base's) added."""
    summed = copy.deepcopy(base)
    parameters = dict(summed.named_parameters())
    with torch.no_grad():
        for model in merged:
            for name, parameter in model.named_parameters():
                parameters[name].add_(parameter - dict(base.named_parameters())[name])
    return summed


def registered(run_hubcli, folder: Path, name: str) -> None:
    result = run_hubcli("add", folder, "--name", name)
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def two_loras(tmp_path, run_hubcli) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A tiny BERT and the same BERT with both LoRAs' ΔW added to its weights."""
    model = tiny_model("bert")
    merged = [write_lora(tmp_path / name, model, seed) for name, seed in (("a", 1), ("b", 2))]
    for name in ("a", "b"):
        registered(run_hubcli, tmp_path / name, name)
    return model, with_changes_added(model, *merged)


def test_sum_adds_the_changes_of_its_children(two_loras, temp_registry) -> None:
    model, expected_model = two_loras
    ids, mask = tiny_inputs()
    with torch.inference_mode():
        expected = model_output(expected_model(input_ids=ids, attention_mask=mask))
        assert not torch.allclose(
            expected, model_output(model(input_ids=ids, attention_mask=mask)), atol=1e-3
        )
    stitched = stitch(model, ["a", "b"], registry=temp_registry, activate=False)
    activate_composition(stitched, "sum(a, b)")
    assert_outputs_close(model_output(stitched.forward(ids, mask)), expected, model)


def test_sum_is_average_without_normalisation(two_loras, temp_registry) -> None:
    model, _ = two_loras
    ids, mask = tiny_inputs()
    stitched = stitch(model, ["a", "b"], registry=temp_registry, activate=False)
    activate_composition(stitched, "sum(a, b)")
    summed = model_output(stitched.forward(ids, mask))
    activate_composition(stitched, "average(a, b, weights=[1, 1], normalize=0)")
    assert_outputs_close(model_output(stitched.forward(ids, mask)), summed, model)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sum(a)", r"sum: takes at least 2 children, got 1"),
        ("sum(a, b, weights=[1, 2])", r"sum: unknown argument 'weights' \(allowed: none\)"),
    ],
    ids=["one-child", "an-argument"],
)
def test_a_wrong_spec_is_refused_before_the_model_runs(spec, message, two_loras, temp_registry) -> None:
    model, _ = two_loras
    stitched = stitch(model, ["a", "b"], registry=temp_registry, activate=False)
    with pytest.raises(SpecError, match=message):
        activate_composition(stitched, spec)


def test_the_cli_lists_and_uses_the_installed_block(two_loras, run_hubcli, tmp_path) -> None:
    """What a user sees once ``pip install hubcli-sum`` is done: the block is listed and
    ``hubcli stitch`` runs it by name."""
    listed = {(row["kind"], row["name"]): row for row in run_hubcli("plugins", "--check", "--json").json()}
    assert (listed[("composition", "sum")]["distribution"], listed[("composition", "sum")]["status"]) == (
        "hubcli-sum",
        "loaded",
    )
    from hubcli.testing import save_tiny_model

    base = save_tiny_model("bert", tmp_path / "base")
    stitched = run_hubcli("stitch", base, "sum(a, b)", "--out", tmp_path / "bundle")
    assert stitched.exit_code == 0, stitched.stderr
    assert (tmp_path / "bundle").is_dir()

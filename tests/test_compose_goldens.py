"""Compositions against the ``adapters`` library's own outputs (tests/golden/adapterhub).

Every composition, fusion and saved-setup case of the manifest runs here: its ``adapters``
composition dict is converted with ``hubcli.compose.adapter_setup.from_adapterhub`` (which turns
``Average(w)`` into ``average(w/N, normalize=0)``: ``adapters`` divides by N once more than
hubcli does), the adapters are imported into the test's registry and attached, and every
expected tensor must match within ``hubcli.testing.tolerance`` (float32 through the model's
layers). The one case no conversion can match is a Stack of
LoRAs: ``adapters`` chains them, hubcli adds their deltas, so ``lora_stack`` is compared with
the base model whose weights carry W + ΔW₁ + ΔW₂ instead.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from hubcli.compose.adapter_setup import from_adapterhub
from hubcli.compose.setup import activate
from hubcli.engine import StitchedModel, read_adapter
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder
from hubcli.testing.tolerance import assert_outputs_close
from plugins.compositions.fuse.files import load_fusion

GOLDEN = Path(__file__).parent / "golden" / "adapterhub"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
KINDS = ("composition", "fusion", "adapter_setup")


def cases() -> list[Any]:
    return [pytest.param(case, id=case["id"]) for case in MANIFEST["cases"] if case["kind"] in KINDS]


def base_model(case: dict[str, Any]) -> torch.nn.Module:
    from transformers import AutoModel

    return AutoModel.from_pretrained(GOLDEN / case["base_model_dir"], attn_implementation="eager").eval()


def golden_inputs(case: dict[str, Any]) -> dict[str, torch.Tensor]:
    data = json.loads((GOLDEN / case["input"]).read_text())
    return {key: torch.tensor(data[key]) for key in ("input_ids", "attention_mask")}


def adapter_dirs(case: dict[str, Any]) -> list[Path]:
    if case["kind"] == "adapter_setup":
        return [GOLDEN / case["setup_dir"] / adapter["name"] for adapter in case["adapters"]]
    return [GOLDEN / adapter["dir"] for adapter in case["adapters"]]


def stitched_for(registry, case: dict[str, Any], base: torch.nn.Module | None = None) -> StitchedModel:
    stitched = StitchedModel(base if base is not None else base_model(case))
    for folder in adapter_dirs(case):
        name = import_adapter(registry, AdapterFolder(folder)).adapter.name
        stitched.attach(read_adapter(registry, name))
    return stitched


def run(stitched: StitchedModel, inputs: dict[str, torch.Tensor]) -> Any:
    with torch.inference_mode():
        return stitched.model(**inputs)


def with_lora_deltas_merged(case: dict[str, Any], stitched: StitchedModel) -> torch.nn.Module:
    """The base model with every attached LoRA's s·B·A added to its projection weights."""
    model = copy.deepcopy(base_model(case))
    for path, slot in stitched.slots.items():
        delta = sum(adapter.delta_weight() for adapter in slot.adapters.values())
        weight = model.get_submodule(path).weight
        with torch.no_grad():
            weight += delta.T if type(slot.base).__name__ == "Conv1D" else delta
    return model


@pytest.mark.parametrize("case", cases())
def test_matches_adapters(registry, case):
    stitched = stitched_for(registry, case)
    spec = from_adapterhub(case["composition"]["dict"])
    setup = activate(stitched, spec)
    if case["kind"] == "fusion":
        load_fusion(setup, GOLDEN / case["fusion_dir"])
    inputs = golden_inputs(case)
    output = run(stitched, inputs)
    expected = load_file(GOLDEN / case["expected"])
    if case["id"].endswith("/lora_stack"):
        with torch.inference_mode():
            expected = {
                "last_hidden_state": with_lora_deltas_merged(case, stitched)(**inputs).last_hidden_state
            }
    for key, want in expected.items():
        assert_outputs_close(output[key], want, stitched, what=key)


def case_by_id(case_id: str) -> dict[str, Any]:
    return next(case for case in MANIFEST["cases"] if case["id"] == case_id)


@pytest.mark.parametrize("model", ["bert", "llama"])
@pytest.mark.parametrize("pair", ["bn", "lora"])
def test_average_is_the_weighted_mean_without_the_extra_division(registry, model, pair):
    """hubcli's average(a, a) is a (adapters' is not); weights are normalised to sum 1; and the
    adapters numbers come back exactly with weights w/N and normalize=0."""
    case = case_by_id(f"{model}/{pair}_average_weighted")
    first, second = (adapter["name"] for adapter in case["adapters"])
    stitched = stitched_for(registry, case)
    inputs = golden_inputs(case)

    activate(stitched, f"average({first}, {first})")
    twice = run(stitched, inputs).last_hidden_state
    activate(stitched, first)
    single = run(stitched, inputs).last_hidden_state
    assert_outputs_close(twice, single, stitched)

    activate(stitched, f"average({first}, {second}, weights=[7, 3])")
    normalised = run(stitched, inputs).last_hidden_state
    activate(stitched, f"average({first}, {second}, weights=[0.7, 0.3], normalize=0)")
    assert_outputs_close(run(stitched, inputs).last_hidden_state, normalised, stitched)

    activate(stitched, f"average({first}, {second}, weights=[0.35, 0.15], normalize=0)")
    golden = load_file(GOLDEN / case["expected"])["last_hidden_state"]
    assert_outputs_close(run(stitched, inputs).last_hidden_state, golden, stitched)

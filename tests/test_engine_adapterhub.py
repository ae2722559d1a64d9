"""AdapterHub adapters through hubcli give the outputs the real ``adapters`` library gave.

Every single-adapter and head case of ``tests/golden/adapterhub/manifest.json`` (written by
``adapters`` 1.3.0, see tests/golden/README.md) runs here, for every saved copy of its adapter
(``.bin`` and safetensors): the base folder is loaded with transformers 5, the adapter folder
goes through ``import_adapter`` into the test's registry, ``StitchedModel`` attaches and
activates it, and every expected tensor must match within ``hubcli.testing.tolerance``. New cases in the manifest are
picked up by the parametrisation; a case hubcli cannot run fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from hubcli.engine import StitchedModel, read_adapter
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder
from hubcli.testing import tiny_model
from hubcli.testing.tolerance import assert_outputs_close
from registry import Registry

GOLDEN = Path(__file__).parent / "golden" / "adapterhub"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
OWN_KINDS = ("single", "head")
"""Compositions, fusion and saved setups belong to the composition engine's tests."""


def single_adapter_runs() -> list[Any]:
    """One param per (case, saved copy of its adapter)."""
    runs = []
    for case in MANIFEST["cases"]:
        if case["kind"] not in OWN_KINDS:
            continue
        for adapter in case["adapters"]:
            copy_name = Path(adapter["dir"]).name
            runs.append(pytest.param(case, adapter["dir"], id=f"{case['id']}[{copy_name}]"))
    return runs


def base_model(case: dict[str, Any]) -> torch.nn.Module:
    from transformers import AutoModel

    folder = GOLDEN / case["base_model_dir"]
    return AutoModel.from_pretrained(folder, attn_implementation="eager").eval()


def golden_inputs(case: dict[str, Any]) -> dict[str, torch.Tensor]:
    data = json.loads((GOLDEN / case["input"]).read_text())
    return {key: torch.tensor(data[key]) for key in ("input_ids", "attention_mask")}


def stitch(registry: Registry, case: dict[str, Any], adapter_dir: Path) -> tuple[StitchedModel, str]:
    """The case's base with the adapter in ``adapter_dir`` imported, attached and active."""
    name = import_adapter(registry, AdapterFolder(adapter_dir)).adapter.name
    stitched = StitchedModel(base_model(case))
    stitched.attach(read_adapter(registry, name))
    stitched.activate(name)
    return stitched, name


def run(stitched: StitchedModel, inputs: dict[str, torch.Tensor]) -> Any:
    """The model's own output (prompt positions included, as ``adapters`` returns them)."""
    with torch.inference_mode():
        return stitched.model(**inputs)


def assert_matches(output: Any, expected: dict[str, torch.Tensor], stitched: StitchedModel) -> None:
    for key, want in expected.items():
        got = output.get(key)
        assert got is not None, f"no {key} in the output"
        assert_outputs_close(got, want, stitched, what=key)


def test_the_manifest_has_cases_for_every_family() -> None:
    models = {case["model"] for case in MANIFEST["cases"] if case["kind"] in OWN_KINDS}
    assert models == {"bert", "roberta", "gpt2", "llama"}


@pytest.mark.parametrize(("case", "adapter_dir"), single_adapter_runs())
def test_adapterhub_adapter_reproduces_adapters_output(
    registry: Registry, case: dict[str, Any], adapter_dir: str
) -> None:
    stitched, _ = stitch(registry, case, GOLDEN / adapter_dir)
    assert_matches(run(stitched, golden_inputs(case)), load_file(GOLDEN / case["expected"]), stitched)


def case_named(case_id: str) -> dict[str, Any]:
    return next(case for case in MANIFEST["cases"] if case["id"] == case_id)


@pytest.mark.parametrize("case_id", ["bert/double_seq_bn", "llama/par_bn", "bert/seq_bn_head", "gpt2/lora"])
def test_deactivate_and_detach_give_the_base_model_back(registry: Registry, case_id: str) -> None:
    case = case_named(case_id)
    stitched, name = stitch(registry, case, GOLDEN / case["adapters"][0]["dir"])
    inputs = golden_inputs(case)
    base = load_file(GOLDEN / case_named(f"{case['model']}/base")["expected"])
    stitched.deactivate()
    assert_matches(run(stitched, inputs), base, stitched)
    assert "logits" not in run(stitched, inputs)
    stitched.activate(name)
    assert_matches(run(stitched, inputs), load_file(GOLDEN / case["expected"]), stitched)
    stitched.detach(name)
    assert_matches(run(stitched, inputs), base, stitched)


def test_stitched_forward_drops_the_adapterhub_prompt_positions(registry: Registry) -> None:
    case = case_named("bert/prompt_tuning")
    stitched, _ = stitch(registry, case, GOLDEN / case["adapters"][0]["dir"])
    inputs = golden_inputs(case)
    hidden = stitched.forward(inputs["input_ids"], inputs["attention_mask"]).last_hidden_state
    expected = load_file(GOLDEN / case["expected"])["last_hidden_state"]
    assert hidden.shape == (2, 7, 32)
    assert_outputs_close(hidden, expected[:, 4:], stitched)


def test_hubcli_predict_prints_the_adapterhub_head_logits(cli: Any, registry: Registry) -> None:
    case = case_named("gpt2/seq_bn_head")  # decoder inputs carry no padding: --input-ids suffices
    assert cli("add", GOLDEN / case["adapters"][0]["dir"]).exit_code == 0
    ids = json.dumps(golden_inputs(case)["input_ids"].tolist())
    result = cli("predict", GOLDEN / case["base_model_dir"], "seq_bn_head", "--input-ids", ids, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = result.json()
    assert data["output"] == "logits"
    assert data["labels"] == [
        "LABEL_" + str(i) for i in load_file(GOLDEN / case["expected"])["logits"].argmax(-1).tolist()
    ]
    expected = load_file(GOLDEN / case["expected"])["logits"]
    assert_outputs_close(torch.tensor(data["values"]), expected, GOLDEN / case["base_model_dir"])


def distilbert_with_bottleneck(tmp_path: Path, variant: str, zero_up: bool) -> tuple[Path, torch.nn.Module]:
    """A tiny DistilBERT and an AdapterHub folder for it: the BERT golden adapter ``variant``
    with its keys moved to DistilBERT's locations (same hidden size)."""
    model = tiny_model("distilbert", head=None, random_biases=False, max_position_embeddings=512)
    source = GOLDEN / "bert" / "adapters" / variant
    raw = json.loads((source / "adapter_config.json").read_text())
    raw.update(model_type="distilbert", model_class="DistilBertModel")
    tensors = torch.load(source / "pytorch_adapter.bin", weights_only=True)
    moved = {}
    for key, tensor in tensors.items():
        key = key.replace("encoder.layer.", "transformer.layer.")
        key = key.replace(".attention.output.adapters.", ".attention_adapters.adapters.")
        key = key.replace(".output.adapters.", ".output_adapters.adapters.")
        moved[key] = torch.zeros_like(tensor) if zero_up and "adapter_up" in key else tensor.contiguous()
    folder = tmp_path / variant
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps(raw))
    save_file(moved, folder / "adapter.safetensors")
    return folder, model


@pytest.mark.parametrize("variant", ["seq_bn", "double_seq_bn", "par_bn"])
def test_distilbert_bottleneck_sees_the_right_block_tensors(
    tmp_path: Path, registry: Registry, variant: str
) -> None:
    """No golden file exists for DistilBERT: with a zero up-projection each variant's output
    is norm(h + x) rebuilt from the tensors the hooks captured, so it equals the base output
    only if h, x and the norm are the right ones; with the real weights it differs."""
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    for zero_up in (True, False):
        folder, model = distilbert_with_bottleneck(tmp_path / str(zero_up), variant, zero_up)
        with torch.inference_mode():
            base = model(input_ids=ids, attention_mask=mask).last_hidden_state
        name = import_adapter(registry, AdapterFolder(folder), name=f"{variant}-{zero_up}").adapter.name
        stitched = StitchedModel(model)
        stitched.attach(read_adapter(registry, name))
        stitched.activate(name)
        with torch.inference_mode():
            adapted = model(input_ids=ids, attention_mask=mask).last_hidden_state
        if zero_up:
            assert_outputs_close(adapted, base, model)
        else:
            assert (adapted - base).abs().max().item() > 1e-2


def test_bottleneck_keeps_working_when_a_lora_on_the_same_projection_leaves(registry: Registry) -> None:
    """``lora_full`` adapts ``output.dense``, the projection whose output the feed-forward
    bottleneck reads: removing the LoRA must leave the bottleneck's hooks in place."""
    case = case_named("bert/seq_bn")
    stitched, name = stitch(registry, case, GOLDEN / case["adapters"][0]["dir"])
    lora = import_adapter(registry, AdapterFolder(GOLDEN / "bert/adapters/lora_full")).adapter.name
    stitched.attach(read_adapter(registry, lora))
    stitched.detach(lora)
    assert_matches(run(stitched, golden_inputs(case)), load_file(GOLDEN / case["expected"]), stitched)


def test_adapterhub_head_on_a_model_with_its_own_head_is_refused(registry: Registry) -> None:
    from transformers import AutoModelForSequenceClassification

    from hubcli.plugin_api import ModelMismatchError

    case = case_named("bert/seq_bn_head")
    name = import_adapter(registry, AdapterFolder(GOLDEN / case["adapters"][0]["dir"])).adapter.name
    model = AutoModelForSequenceClassification.from_pretrained(GOLDEN / case["base_model_dir"]).eval()
    stitched = StitchedModel(model)
    with pytest.raises(ModelMismatchError, match="bare backbone"):
        stitched.attach(read_adapter(registry, name))
    assert stitched.architectures == {}


def test_adapterhub_prompt_tuning_on_a_decoder_is_refused(tmp_path: Path, registry: Registry) -> None:
    """``adapters`` has no prompt tuning for decoders, and neither have we: a clear refusal."""
    from hubcli.plugin_api import CapabilityNotSupported

    source = GOLDEN / "bert" / "adapters" / "prompt_tuning"
    folder = tmp_path / "prompt"
    folder.mkdir()
    raw = json.loads((source / "adapter_config.json").read_text())
    raw.update(model_type="gpt2", model_class="GPT2Model")
    (folder / "adapter_config.json").write_text(json.dumps(raw))
    (folder / "pytorch_adapter.bin").write_bytes((source / "pytorch_adapter.bin").read_bytes())
    name = import_adapter(registry, AdapterFolder(folder)).adapter.name
    stitched = StitchedModel(base_model(case_named("gpt2/base")))
    with pytest.raises(CapabilityNotSupported, match="embeddings module"):
        stitched.attach(read_adapter(registry, name))

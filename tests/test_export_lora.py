"""LoRA conversion between AdapterHub and PEFT, proven with the real libraries' outputs.

(a) AdapterHub goldens (written by ``adapters`` 1.3.0, tests/golden/README.md) exported to PEFT
    and loaded by real PEFT on the golden base model reproduce the golden expected output.
(b) PEFT LoRAs exported to AdapterHub, re-imported through hubcli's AdapterHub reader and run by
    hubcli's engine give PEFT's own output; PEFT → AdapterHub → PEFT gives the same tensors.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import peft
import pytest
import torch
from safetensors.torch import load_file

from hubcli.engine import StitchedModel, read_adapter
from hubcli.importer import import_adapter
from hubcli.plugin_api import AdapterFolder, CapabilityNotSupported
from hubcli.services.exporting import export_adapter
from hubcli.testing import tiny_model
from hubcli.testing.tolerance import assert_outputs_close
from registry import Registry
from tests.helpers.tiny_models import ENGINE_OPTIONS

GOLDEN = Path(__file__).parent / "golden" / "adapterhub"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
GOLDEN_LORAS = [
    f"{model}/{case}" for model in ("bert", "roberta", "gpt2", "llama") for case in ("lora", "lora_full")
]


def case_named(case_id: str) -> dict[str, Any]:
    return next(case for case in MANIFEST["cases"] if case["id"] == case_id)


def golden_base(case: dict[str, Any]) -> torch.nn.Module:
    from transformers import AutoModel

    return AutoModel.from_pretrained(GOLDEN / case["base_model_dir"], attn_implementation="eager").eval()


def golden_inputs(case: dict[str, Any]) -> dict[str, torch.Tensor]:
    data = json.loads((GOLDEN / case["input"]).read_text())
    return {key: torch.tensor(data[key]) for key in ("input_ids", "attention_mask")}


@pytest.mark.parametrize("case_id", GOLDEN_LORAS)
def test_adapterhub_lora_exported_to_peft_reproduces_the_golden_output_in_peft(
    registry: Registry, tmp_path: Path, case_id: str
) -> None:
    case = case_named(case_id)
    name = import_adapter(registry, AdapterFolder(GOLDEN / case["adapters"][0]["dir"])).adapter.name
    folder = tmp_path / "peft"
    report = export_adapter(registry, name, folder, "peft")
    assert report.files == ["adapter_config.json", "adapter_model.safetensors"]
    model = peft.PeftModel.from_pretrained(golden_base(case), str(folder)).eval()
    with torch.inference_mode():
        got = model(**golden_inputs(case)).last_hidden_state
    want = load_file(GOLDEN / case["expected"])["last_hidden_state"]
    assert_outputs_close(got, want, model)


def test_llama_feed_forward_places_follow_the_adapterhub_swap(registry: Registry, tmp_path: Path) -> None:
    """adapters' Llama puts intermediate_lora on down_proj and output_lora on up_proj: the PEFT
    config names those modules, and converting back gives the same AdapterHub switches."""
    case = case_named("llama/lora_full")
    name = import_adapter(registry, AdapterFolder(GOLDEN / case["adapters"][0]["dir"])).adapter.name
    export_adapter(registry, name, tmp_path / "peft", "peft")
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["target_modules"] == [
        "mlp.down_proj",
        "mlp.up_proj",
        "self_attn.k_proj",
        "self_attn.q_proj",
        "self_attn.v_proj",
    ]
    assert (config["r"], config["lora_alpha"]) == (4, 16)
    again = import_adapter(registry, AdapterFolder(tmp_path / "peft"), name="llama-peft").adapter.name
    export_adapter(registry, again, tmp_path / "hub", "adapterhub")
    envelope = json.loads((tmp_path / "hub" / "adapter_config.json").read_text())
    assert envelope["hidden_size"] == 32  # not down_proj's input (37): adapters swaps the places
    method = envelope["config"]
    original = json.loads((GOLDEN / case["adapters"][0]["dir"] / "adapter_config.json").read_text())["config"]
    for key in (
        "r",
        "alpha",
        "attn_matrices",
        "selfattn_lora",
        "intermediate_lora",
        "output_lora",
        "leave_out",
    ):
        assert method[key] == original[key], key


def test_bert_output_lora_is_named_so_peft_does_not_also_wrap_the_attention_output(
    registry: Registry, tmp_path: Path
) -> None:
    case = case_named("bert/lora_full")
    name = import_adapter(registry, AdapterFolder(GOLDEN / case["adapters"][0]["dir"])).adapter.name
    export_adapter(registry, name, tmp_path / "peft", "peft")
    targets = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())["target_modules"]
    assert "output.dense" not in targets
    assert {"encoder.layer.0.output.dense", "encoder.layer.1.output.dense", "intermediate.dense"} <= set(
        targets
    )
    model = peft.PeftModel.from_pretrained(golden_base(case), str(tmp_path / "peft"))
    wrapped = {n.rsplit(".lora_A", 1)[0] for n, _ in model.named_modules() if n.endswith(".lora_A")}
    assert not any("attention.output" in path for path in wrapped)


def test_unit_scaling_of_old_adapterhub_files_becomes_alpha_equal_to_r(
    registry: Registry, tmp_path: Path
) -> None:
    """adapters < 1.1 ignored alpha (s = 1); PEFT reproduces that with lora_alpha = r."""
    source = GOLDEN / "bert" / "adapters" / "lora_safetensors"
    old = tmp_path / "old"
    old.mkdir()
    raw = json.loads((source / "adapter_config.json").read_text())
    raw["version"] = "adapters.1.0.0"
    (old / "adapter_config.json").write_text(json.dumps(raw))
    (old / "adapter.safetensors").write_bytes((source / "adapter.safetensors").read_bytes())
    name = import_adapter(registry, AdapterFolder(old), name="old-lora").adapter.name
    export_adapter(registry, name, tmp_path / "peft", "peft")
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["lora_alpha"] == config["r"] == 4


# -- PEFT → AdapterHub ----------------------------------------------------------------------

TARGETS = {
    "bert": ["query", "key", "value", "intermediate.dense"],
    "gpt2": ["c_attn", "c_fc", "mlp.c_proj"],
    "llama": ["q_proj", "v_proj", "down_proj", "up_proj"],
}


def peft_lora(family: str, folder: Path, **options: Any) -> tuple[torch.nn.Module, Any]:
    """A randomised PEFT LoRA saved in ``folder``; returns (untouched base, PEFT model)."""
    model = tiny_model(family, 3, head=None, **ENGINE_OPTIONS[family])  # AdapterHub's plain-model layout
    base = copy.deepcopy(model)
    config = peft.LoraConfig(
        r=4, lora_alpha=6, target_modules=TARGETS[family], fan_in_fan_out=family == "gpt2", **options
    )
    wrapped = peft.get_peft_model(model, config)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    wrapped.eval().save_pretrained(folder)
    return base, wrapped


INPUT_IDS = torch.tensor([[2, 15, 27, 4, 9], [3, 5, 7, 8, 11]])
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_peft_lora_exported_to_adapterhub_runs_like_peft(
    registry: Registry, tmp_path: Path, family: str
) -> None:
    base, wrapped = peft_lora(family, tmp_path / "peft")
    with torch.inference_mode():
        want = wrapped(input_ids=INPUT_IDS, attention_mask=MASK).last_hidden_state
    name = import_adapter(registry, AdapterFolder(tmp_path / "peft"), name="from-peft").adapter.name
    export_adapter(registry, name, tmp_path / "hub", "adapterhub")
    hub_name = import_adapter(registry, AdapterFolder(tmp_path / "hub"), name="as-hub").adapter
    assert (hub_name.format, hub_name.architecture) == ("adapterhub", "lora")
    stitched = StitchedModel(base)
    stitched.attach(read_adapter(registry, "as-hub"))
    stitched.activate("as-hub")
    with torch.inference_mode():
        got = base(input_ids=INPUT_IDS, attention_mask=MASK).last_hidden_state
    assert_outputs_close(got, want, base)

    export_adapter(registry, "as-hub", tmp_path / "back", "peft")
    original = load_file(tmp_path / "peft" / "adapter_model.safetensors")
    back = load_file(tmp_path / "back" / "adapter_model.safetensors")
    assert original.keys() == back.keys()
    assert all(torch.equal(original[key], back[key]) for key in original)


def test_adapterhub_keys_and_envelope(registry: Registry, tmp_path: Path) -> None:
    peft_lora("gpt2", tmp_path / "peft")
    import_adapter(registry, AdapterFolder(tmp_path / "peft"), name="gpt2.lora")
    report = export_adapter(registry, "gpt2.lora", tmp_path / "hub", "adapterhub")
    assert report.files == ["adapter.safetensors", "adapter_config.json"]
    raw = json.loads((tmp_path / "hub" / "adapter_config.json").read_text())
    assert {k: raw[k] for k in ("hidden_size", "model_class", "model_type", "name")} == {
        "hidden_size": 32,
        "model_class": "GPT2Model",
        "model_type": "gpt2",
        "name": "gpt2_lora",
    }
    assert raw["config"]["attn_matrices"] == ["q", "k", "v"]
    assert raw["config"]["intermediate_lora"] and raw["config"]["output_lora"]
    tensors = load_file(tmp_path / "hub" / "adapter.safetensors")
    assert tensors["h.0.attn.c_attn.loras.gpt2_lora.lora_A"].shape == (12, 32)  # q, k, v stacked
    assert tensors["h.0.attn.c_attn.loras.gpt2_lora.lora_B"].shape == (96, 4)
    assert tensors["h.1.mlp.c_proj.loras.gpt2_lora.lora_A"].shape == (4, 128)


@pytest.mark.parametrize(
    ("options", "family", "named"),
    [
        ({"use_dora": True}, "bert", "use_dora"),
        ({"use_rslora": True}, "bert", "use_rslora"),
        ({"rank_pattern": {"value": 2}}, "bert", "rank_pattern"),
        ({"target_modules": ["query", "dense"]}, "bert", "attention.output.dense"),
        ({"target_modules": ["q_proj", "o_proj"]}, "llama", "o_proj"),
        ({"target_modules": ["q_proj", "gate_proj"]}, "llama", "gate_proj"),
        ({"target_modules": ["word_embeddings", "query"]}, "bert", "embedding"),
        ({"layers_to_transform": [1], "target_modules": ["query"], "layers_pattern": "layer"}, "bert", None),
        (
            {"target_modules": r".*\.0\.attention\.self\.query|.*\.1\.attention\.self\.value"},
            "bert",
            "different modules",
        ),
    ],
    ids=[
        "dora",
        "rslora",
        "rank_pattern",
        "attention-output",
        "o_proj",
        "gate_proj",
        "embeddings",
        "layers_to_transform",
        "irregular-regex",
    ],
)
def test_what_adapterhub_cannot_express_is_refused_in_one_line(
    registry: Registry, tmp_path: Path, options: dict[str, Any], family: str, named: str | None
) -> None:
    options = {"target_modules": TARGETS[family], **options}
    model = tiny_model(family, 3, head=None, **ENGINE_OPTIONS[family])
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=6, **options))
    wrapped.save_pretrained(tmp_path / "peft")
    import_adapter(registry, AdapterFolder(tmp_path / "peft"), name="odd")
    if named is None:  # layer 1 only: AdapterHub says so with leave_out
        export_adapter(registry, "odd", tmp_path / "hub", "adapterhub")
        assert json.loads((tmp_path / "hub" / "adapter_config.json").read_text())["config"]["leave_out"] == [
            0
        ]
        return
    with pytest.raises(CapabilityNotSupported) as caught:
        export_adapter(registry, "odd", tmp_path / "hub", "adapterhub")
    assert named in caught.value.message and "\n" not in caught.value.message
    assert not (tmp_path / "hub").exists()


def test_a_task_model_lora_converts_with_the_model_type_given(
    cli: Any, registry: Registry, tmp_path: Path
) -> None:
    """PEFT writes no model type for task models (CAUSAL_LM …): refused with a hint, then
    converted with ``--model-type``; hubcli runs the result like PEFT on the task model."""
    from hubcli.testing import TINY_TASK_TYPES

    model, task = tiny_model("llama", **ENGINE_OPTIONS["llama"]), TINY_TASK_TYPES["llama"]
    base = copy.deepcopy(model)
    wrapped = peft.get_peft_model(
        model, peft.LoraConfig(task_type=task, r=4, lora_alpha=6, target_modules=["q_proj", "v_proj"])
    )
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.2)
        want = wrapped.eval()(input_ids=INPUT_IDS).logits
    wrapped.save_pretrained(tmp_path / "peft")
    assert cli("add", tmp_path / "peft", "--name", "causal").exit_code == 0
    refused = cli("export", "causal", tmp_path / "hub", "--format", "adapterhub")
    assert refused.exit_code == 1 and "--model-type" in refused.stderr
    done = cli("export", "causal", tmp_path / "hub", "--format", "adapterhub", "--model-type", "llama")
    assert done.exit_code == 0, done.stderr
    assert json.loads((tmp_path / "hub" / "adapter_config.json").read_text())["model_type"] == "llama"
    import_adapter(registry, AdapterFolder(tmp_path / "hub"), name="causal-hub")
    stitched = StitchedModel(base)
    stitched.attach(read_adapter(registry, "causal-hub"))
    stitched.activate("causal-hub")
    with torch.inference_mode():
        got = base(input_ids=INPUT_IDS).logits
    assert_outputs_close(got, want, base)

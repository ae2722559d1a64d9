"""IA³ conversion between AdapterHub and PEFT where both scale projection outputs.

AdapterHub goldens exported to PEFT reproduce the golden output in real PEFT; PEFT IA³ adapters
without feed-forward (input-scaling) modules exported to AdapterHub run in hubcli's engine,
through its AdapterHub reader, like PEFT runs them; the feed-forward kind is refused.
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
from tests.test_export_lora import (
    GOLDEN,
    INPUT_IDS,
    MASK,
    case_named,
    golden_base,
    golden_inputs,
)

OUTPUT_TARGETS = {
    "bert": ["key", "value", "intermediate.dense"],
    "gpt2": ["c_attn", "c_fc"],
    "llama": ["k_proj", "v_proj", "down_proj"],
}
"""Modules PEFT scales at their output (no feedforward_modules), as AdapterHub does."""


@pytest.mark.parametrize("model", ["bert", "roberta", "gpt2", "llama"])
def test_adapterhub_ia3_exported_to_peft_reproduces_the_golden_output_in_peft(
    registry: Registry, tmp_path: Path, model: str
) -> None:
    case = case_named(f"{model}/ia3")
    name = import_adapter(registry, AdapterFolder(GOLDEN / case["adapters"][0]["dir"])).adapter.name
    export_adapter(registry, name, tmp_path / "peft", "peft")
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["peft_type"] == "IA3" and config["feedforward_modules"] == []
    native = peft.PeftModel.from_pretrained(golden_base(case), str(tmp_path / "peft")).eval()
    with torch.inference_mode():
        got = native(**golden_inputs(case)).last_hidden_state
    want = load_file(GOLDEN / case["expected"])["last_hidden_state"]
    assert_outputs_close(got, want, native)


def peft_ia3(family: str, folder: Path, **options: Any) -> tuple[torch.nn.Module, Any]:
    """A randomised PEFT IA³ (vectors around 1) saved in ``folder``; (untouched base, PEFT model)."""
    model = tiny_model(family, 3, head=None, **ENGINE_OPTIONS[family])
    base = copy.deepcopy(model)
    settings = {
        "target_modules": OUTPUT_TARGETS[family],
        "feedforward_modules": [],
        "fan_in_fan_out": family == "gpt2",
        **options,
    }
    wrapped = peft.get_peft_model(model, peft.IA3Config(**settings))
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "ia3_l" in name:
                param.copy_(1.0 + 0.3 * torch.randn(param.shape, generator=generator))
    wrapped.eval().save_pretrained(folder)
    return base, wrapped


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_peft_ia3_exported_to_adapterhub_runs_like_peft(
    registry: Registry, tmp_path: Path, family: str
) -> None:
    base, wrapped = peft_ia3(family, tmp_path / "peft")
    with torch.inference_mode():
        want = wrapped(input_ids=INPUT_IDS, attention_mask=MASK).last_hidden_state
    import_adapter(registry, AdapterFolder(tmp_path / "peft"), name="from-peft")
    export_adapter(registry, "from-peft", tmp_path / "hub", "adapterhub")
    method = json.loads((tmp_path / "hub" / "adapter_config.json").read_text())["config"]
    assert (method["composition_mode"], method["r"], method["alpha"]) == ("scale", 1, 1)
    hub = import_adapter(registry, AdapterFolder(tmp_path / "hub"), name="as-hub").adapter
    assert (hub.architecture, hub.format) == ("ia3", "adapterhub")
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


def test_peft_feed_forward_ia3_is_refused(registry: Registry, tmp_path: Path) -> None:
    """PEFT's default BERT IA³ scales the input of output.dense; AdapterHub cannot say that."""
    wrapped = peft.get_peft_model(
        tiny_model("bert", 3, head=None, **ENGINE_OPTIONS["bert"]), peft.IA3Config()
    )
    wrapped.save_pretrained(tmp_path / "peft")
    import_adapter(registry, AdapterFolder(tmp_path / "peft"), name="ff")
    with pytest.raises(CapabilityNotSupported, match="feedforward_modules"):
        export_adapter(registry, "ff", tmp_path / "hub", "adapterhub")


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_left_out_layers_stay_unadapted_in_peft(registry: Registry, tmp_path: Path, method: str) -> None:
    """An AdapterHub adapter with ``leave_out: [0]`` (layer 0's tensors dropped): PEFT wraps layer
    1 only (LoRA: layers_to_transform; IA³, which lacks that option: full module paths) and gives
    hubcli's output for the AdapterHub original."""
    from safetensors.torch import save_file

    case = case_named(f"bert/{method}")
    source = GOLDEN / "bert" / "adapters" / f"{method}_safetensors"
    raw = json.loads((source / "adapter_config.json").read_text())
    raw["config"]["leave_out"] = [0]
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    (crafted / "adapter_config.json").write_text(json.dumps(raw))
    tensors = load_file(source / "adapter.safetensors")
    save_file({k: v for k, v in tensors.items() if ".layer.0." not in k}, crafted / "adapter.safetensors")
    import_adapter(registry, AdapterFolder(crafted), name="left-out")
    export_adapter(registry, "left-out", tmp_path / "peft", "peft")

    native = peft.PeftModel.from_pretrained(golden_base(case), str(tmp_path / "peft")).eval()
    wrapped = [n for n, m in native.named_modules() if hasattr(m, "lora_A" if method == "lora" else "ia3_l")]
    assert wrapped and all(".layer.1." in n for n in wrapped)
    stitched = StitchedModel(golden_base(case))
    stitched.attach(read_adapter(registry, "left-out"))
    stitched.activate("left-out")
    with torch.inference_mode():
        want = stitched.model(**golden_inputs(case)).last_hidden_state
        got = native(**golden_inputs(case)).last_hidden_state
    assert_outputs_close(got, want, native)

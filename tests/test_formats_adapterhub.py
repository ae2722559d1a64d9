"""AdapterHub adapters saved by the real ``adapters`` library (tests/golden/adapterhub) imported
through the architecture plugins.

``manifest.json`` lists every saved folder with the config it was created from; each one (pickle
and safetensors variants, with and without heads) must import with the architecture and variant
that config implies, a canonical config copied faithfully from the file, and the number of
distinct trained tensors' values (``adapters`` saves some tensors under two names).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from hubcli.importer import adapter_subfolders, import_adapter
from hubcli.plugin_api import AdapterFolder

GOLDEN = Path(__file__).parent / "golden" / "adapterhub"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text()) if GOLDEN.exists() else {"cases": []}
FOLDERS = [
    (case, saved)
    for case in MANIFEST["cases"]
    if case["kind"] in ("single", "head")
    for saved in case["adapters"]
]
BOTTLENECK_VARIANTS = {
    "seq_bn": "seq_bn",
    "SeqBnConfig": "seq_bn",
    "double_seq_bn": "double_seq_bn",
    "DoubleSeqBnConfig": "double_seq_bn",
    "par_bn": "par_bn",
    "ParBnConfig": "par_bn",
}


def expected_kind(record: str | dict[str, Any]) -> tuple[str, str | None]:
    """Architecture and variant implied by the config the generator passed to add_adapter."""
    name = record if isinstance(record, str) else record["class"]
    kwargs = {} if isinstance(record, str) else record["kwargs"]
    if name in BOTTLENECK_VARIANTS:
        return "bottleneck", BOTTLENECK_VARIANTS[name]
    if name == "BnConfig":
        if kwargs.get("is_parallel"):
            return "bottleneck", "par_bn"
        both = kwargs.get("mh_adapter") and kwargs.get("output_adapter")
        return "bottleneck", "double_seq_bn" if both else "seq_bn"
    return {
        "LoRAConfig": ("lora", "lora"),
        "IA3Config": ("ia3", "ia3"),
        "PrefixTuningConfig": ("prefix_tuning", "flat" if kwargs.get("flat") else "reparametrized"),
        "PromptTuningConfig": ("prompt_tuning", None),
    }[name]


def distinct_numel(folder: Path) -> tuple[int, int]:
    """(values, tensors) of the adapter weights, counting storage shared by several names once:
    ``torch.save`` keeps sharing, which is how ``adapters`` aliases one parameter."""
    pickled = folder / "pytorch_adapter.bin"
    if pickled.exists():
        state = torch.load(pickled, weights_only=True)
    else:
        from safetensors.torch import load_file

        state = load_file(str(folder / "adapter.safetensors"))
    seen = {}
    for tensor in state.values():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        seen[key] = tensor.numel()
    return sum(seen.values()), len(seen)


def copied_fields(architecture: str, method: dict[str, Any], envelope: dict[str, Any]):
    """Canonical field → the value the file says, for the fields read straight from it."""
    if architecture == "bottleneck":
        keys = (
            "mh_adapter",
            "output_adapter",
            "reduction_factor",
            "non_linearity",
            "ln_before",
            "ln_after",
            "original_ln_before",
            "original_ln_after",
            "residual_before_ln",
            "adapter_residual_before_ln",
            "is_parallel",
            "scaling",
            "use_gating",
            "leave_out",
        )
        return {key: method[key] for key in keys}
    if architecture in ("lora", "ia3"):
        targets = {
            "kind": "adapterhub",
            "attn_matrices": method["attn_matrices"],
            "selfattn": method["selfattn_lora"],
            "intermediate": method["intermediate_lora"],
            "output": method["output_lora"],
            "leave_out": method["leave_out"],
        }
        if architecture == "ia3":
            return {"targets": targets, "scale": method["alpha"]}
        return {"targets": targets, "r": method["r"], "alpha": method["alpha"], "scaling_rule": "alpha/r"}
    if architecture == "prefix_tuning":
        return {
            "num_virtual_tokens": method["prefix_length"],
            "flat": method["flat"],
            "leave_out": method["leave_out"],
            "use_gating": method["use_gating"],
        }
    return {
        "num_virtual_tokens": method["prompt_length"],
        "combine": method["combine"],
        "token_dim": envelope["hidden_size"],
    }


@pytest.mark.skipif(not FOLDERS, reason="AdapterHub goldens not generated")
@pytest.mark.parametrize(("case", "saved"), FOLDERS, ids=[saved["dir"] for _, saved in FOLDERS])
def test_saved_adapter_imports(registry, case, saved):
    folder = GOLDEN / saved["dir"]
    envelope = json.loads((folder / "adapter_config.json").read_text())
    adapter = import_adapter(registry, AdapterFolder(folder)).adapter

    architecture, variant = expected_kind(saved["config"])
    assert (adapter.architecture, adapter.variant, adapter.format) == (
        architecture,
        variant,
        "adapterhub",
    )
    assert adapter.name == saved["name"]
    assert (adapter.base_model, adapter.model_type, adapter.hidden_size) == (
        envelope["model_name"],
        envelope["model_type"],
        envelope["hidden_size"],
    )
    expected = copied_fields(architecture, envelope["config"], envelope)
    assert {key: adapter.method_config[key] for key in expected} == expected

    values, tensors = distinct_numel(folder)
    assert adapter.num_parameters == values
    if case["kind"] == "single" and not saved["dir"].endswith("_ejected"):
        assert tensors == case["randomised_params"]

    files = {f.path: f.role for f in registry.files(adapter)}
    expected_files = {"adapter_config.json": "config", "adapter.safetensors": "weights"}
    if case["kind"] == "head":
        expected_files |= {"head_config.json": "head_config", "model_head.safetensors": "head_weights"}
        assert adapter.task == "classification"
        assert adapter.labels == [f"LABEL_{i}" for i in range(case["head"]["num_labels"])]
    assert files == expected_files


def golden(name: str) -> AdapterFolder:
    return AdapterFolder(GOLDEN / "bert" / "adapters" / name)


@pytest.mark.skipif(not FOLDERS, reason="AdapterHub goldens not generated")
def test_bottleneck_options_are_kept(registry):
    custom = import_adapter(registry, golden("bn_custom")).adapter.method_config
    assert (custom["ln_before"], custom["ln_after"], custom["scaling"]) == (True, True, 0.5)
    assert custom["non_linearity"] == "gelu" and custom["original_ln_after"] is False
    channel = import_adapter(registry, golden("bn_channel")).adapter.method_config
    assert (channel["scaling"], channel["leave_out"]) == ("channel", [1])
    post_add = import_adapter(registry, golden("bn_post_add")).adapter.method_config
    assert post_add["residual_before_ln"] == "post_add"
    learned = import_adapter(registry, golden("par_bn_learned")).adapter.method_config
    assert (learned["scaling"], learned["use_gating"], learned["is_parallel"]) == ("learned", True, True)


@pytest.mark.skipif(not FOLDERS, reason="AdapterHub goldens not generated")
def test_ejected_prefix_is_a_flat_table(registry):
    """``eject_prefix_tuning`` saves the table but leaves ``flat: false`` in the config."""
    adapter = import_adapter(registry, golden("prefix_tuning_ejected")).adapter
    assert adapter.method_config["flat"] is False
    assert adapter.num_parameters == 5 * 2 * 2 * 32  # tokens × layers × (key, value) × hidden


@pytest.mark.skipif(not FOLDERS, reason="AdapterHub goldens not generated")
def test_saved_setup_has_one_adapter_per_subfolder(registry):
    folder = golden("setup_stack")
    assert adapter_subfolders(folder) == ["lora", "seq_bn"]
    imported = [import_adapter(registry, folder.sub(name)).adapter for name in ("lora", "seq_bn")]
    assert [a.architecture for a in imported] == ["lora", "bottleneck"]
    # a saved fusion has no adapter_config.json: it registers as a fusion, not an adapter
    assert import_adapter(registry, golden("fusion")).adapter.architecture == "fusion"


def patched_copy(tmp_path: Path, name: str, **changes: Any) -> AdapterFolder:
    """A copy of a golden folder whose adapter_config.json has ``changes`` (None deletes)."""
    folder = shutil.copytree(GOLDEN / "bert" / "adapters" / name, tmp_path / name)
    path = folder / "adapter_config.json"
    envelope = json.loads(path.read_text())
    for key, value in changes.items():
        target = envelope["config"] if key in envelope["config"] else envelope
        if value is None:
            del target[key]
        else:
            target[key] = value
    path.write_text(json.dumps(envelope))
    return AdapterFolder(folder)


@pytest.mark.skipif(not FOLDERS, reason="AdapterHub goldens not generated")
def test_files_from_older_library_versions(registry, tmp_path):
    """adapters < 1.1 trained LoRA and IA³ without alpha; files without a version used the old
    activation names. Both are read the way the library reads them."""
    lora = import_adapter(registry, patched_copy(tmp_path, "lora", version="adapters.1.0.1"))
    assert lora.adapter.method_config["scaling_rule"] == "1"
    ia3 = patched_copy(tmp_path, "ia3", version="adapters.0.2.2", alpha=3)
    assert import_adapter(registry, ia3).adapter.method_config["scale"] == 1.0
    current = import_adapter(registry, patched_copy(tmp_path, "ia3_safetensors", alpha=3), name="x")
    assert current.adapter.method_config["scale"] == 3.0
    old = patched_copy(tmp_path, "bn_custom", version=None)
    assert import_adapter(registry, old).adapter.method_config["non_linearity"] == "gelu_new"

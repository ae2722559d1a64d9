"""Broken, hostile or unsupported adapter folders: each is refused with a typed, one-line error
that names the file (and the tensor, for validation errors), and the registry stays untouched:
no adapter row, no blob, no staging leftover."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from hubcli.importer import import_adapter
from hubcli.plugin_api import (
    AdapterFolder,
    AdapterFormatError,
    AdapterValidationError,
    HubcliError,
    UnsafeInputError,
)
from tests.helpers.formats import (
    PEFT_LORA_CONFIG,
    QUERY,
    assert_registry_empty,
    lora_tensors,
    write_adapter,
)

HUB_ENVELOPE = {
    "name": "a",
    "model_name": "tiny/bert",
    "model_type": "bert",
    "hidden_size": 32,
    "version": "adapters.1.3.0",
}
SEQ_BN = {"mh_adapter": False, "output_adapter": True, "reduction_factor": 16, "non_linearity": "relu"}
BN_KEY = "encoder.layer.0.output.adapters.a"


def refused(registry, folder: Path, error: type[HubcliError], *fragments: str) -> str:
    """Import ``folder``, expect ``error`` with every fragment in its one-line message."""
    with pytest.raises(error) as caught:
        import_adapter(registry, AdapterFolder(folder))
    message = caught.value.message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert_registry_empty(registry)
    return message


def test_malformed_json(registry, tmp_path):
    write_adapter(tmp_path, '{"peft_type": "LORA", "r": 4,', lora_tensors())
    refused(registry, tmp_path, AdapterFormatError, "adapter_config.json", "invalid JSON at line 1")


def test_unknown_peft_type(registry, tmp_path):
    write_adapter(tmp_path, {**PEFT_LORA_CONFIG, "peft_type": "LOHA"}, lora_tensors())
    refused(registry, tmp_path, AdapterFormatError, "adapter_config.json", "no installed architecture")


def test_adapterhub_unknown_architecture(registry, tmp_path):
    config = {**HUB_ENVELOPE, "config": {"architecture": "reft", "r": 1}}
    write_adapter(tmp_path, config, lora_tensors(), "adapter.safetensors")
    refused(registry, tmp_path, AdapterFormatError, "adapter_config.json", "no installed architecture")


def test_wrong_field_type(registry, tmp_path):
    write_adapter(tmp_path, {**PEFT_LORA_CONFIG, "r": "eight"}, lora_tensors())
    refused(registry, tmp_path, AdapterFormatError, "adapter_config.json", "'r'", "'eight'")


def test_weights_file_missing(registry, tmp_path):
    write_adapter(tmp_path, PEFT_LORA_CONFIG)
    refused(registry, tmp_path, AdapterFormatError, "adapter_model.safetensors", "missing")


def test_lora_a_without_b(registry, tmp_path):
    tensors = lora_tensors()
    del tensors[f"{QUERY}.lora_B.weight"]
    write_adapter(tmp_path, PEFT_LORA_CONFIG, tensors)
    refused(
        registry,
        tmp_path,
        AdapterValidationError,
        "adapter_model.safetensors",
        f"{QUERY}.lora_A.weight",
        "no matching lora_B",
    )


def test_shape_disagrees_with_declared_rank(registry, tmp_path):
    write_adapter(tmp_path, {**PEFT_LORA_CONFIG, "r": 8}, lora_tensors(r=4))
    refused(
        registry,
        tmp_path,
        AdapterValidationError,
        f"{QUERY}.lora_A.weight",
        "shape [4, 32]",
        "expected [8, *]",
        "r=8",
    )


def test_dora_without_magnitude(registry, tmp_path):
    write_adapter(tmp_path, {**PEFT_LORA_CONFIG, "use_dora": True}, lora_tensors())
    refused(registry, tmp_path, AdapterValidationError, "use_dora", "magnitude")


def test_no_tensor_of_the_method(registry, tmp_path):
    write_adapter(tmp_path, PEFT_LORA_CONFIG, {"something.else": np.zeros(3, dtype=np.float32)})
    refused(registry, tmp_path, AdapterValidationError, "'something.else'")


def test_bottleneck_width_disagrees_with_reduction_factor(registry, tmp_path):
    tensors = {  # hidden 32 / reduction 16 = 2, but the file has 4
        f"{BN_KEY}.adapter_down.0.weight": np.zeros((4, 32), dtype=np.float32),
        f"{BN_KEY}.adapter_down.0.bias": np.zeros(4, dtype=np.float32),
        f"{BN_KEY}.adapter_up.weight": np.zeros((32, 4), dtype=np.float32),
        f"{BN_KEY}.adapter_up.bias": np.zeros(32, dtype=np.float32),
    }
    write_adapter(tmp_path, {**HUB_ENVELOPE, "config": SEQ_BN}, tensors, "adapter.safetensors")
    refused(registry, tmp_path, AdapterValidationError, "adapter.safetensors", "expected [2, 32]")


def test_compacter_is_refused_not_misread(registry, tmp_path):
    config = {**HUB_ENVELOPE, "config": {**SEQ_BN, "phm_layer": True}}
    write_adapter(tmp_path, config, lora_tensors(), "adapter.safetensors")
    refused(registry, tmp_path, AdapterFormatError, "adapter_config.json", "phm_layer", "not supported yet")


def test_peft_pissa_needs_the_modified_base(registry, tmp_path):
    write_adapter(tmp_path, {**PEFT_LORA_CONFIG, "init_lora_weights": "pissa"}, lora_tensors())
    refused(registry, tmp_path, AdapterFormatError, "init_lora_weights='pissa'", "not supported yet")


def test_head_config_without_head_weights(registry, tmp_path):
    write_adapter(tmp_path, {**HUB_ENVELOPE, "config": SEQ_BN}, {}, "adapter.safetensors")
    (tmp_path / "head_config.json").write_text(json.dumps({"config": {"head_type": "classification"}}))
    refused(registry, tmp_path, AdapterFormatError, "pytorch_model_head.bin", "missing")


def test_pickle_that_would_run_code(registry, tmp_path):
    import torch

    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').write('ran')",)

    folder = write_adapter(tmp_path / "adapter", PEFT_LORA_CONFIG)
    torch.save({f"{QUERY}.lora_A.weight": Payload()}, folder / "adapter_model.bin")
    refused(registry, folder, UnsafeInputError, "adapter_model.bin", "weights_only")
    assert not marker.exists()
    torch.load(folder / "adapter_model.bin", weights_only=False)  # control: the payload is live
    assert marker.read_text() == "ran"


def test_symlink_out_of_the_folder(registry, tmp_path):
    outside = tmp_path / "outside.safetensors"
    write_adapter(tmp_path / "elsewhere", PEFT_LORA_CONFIG, lora_tensors())
    os.replace(tmp_path / "elsewhere" / "adapter_model.safetensors", outside)
    folder = write_adapter(tmp_path / "adapter", PEFT_LORA_CONFIG)
    (folder / "adapter_model.safetensors").symlink_to(outside)
    refused(registry, folder, UnsafeInputError, "adapter_model.safetensors", "outside")

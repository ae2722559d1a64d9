"""Detection and validation of BitFit folders: broken files are refused with one line that names
the file and the problem, and nothing is registered."""

from __future__ import annotations

import json
import re

import pytest
import torch
from hubcli.plugin_api import AdapterFolder, AdapterFormatError

from hubcli_bitfit import BitFitArchitecture, save_bitfit

QUERY_BIAS = "encoder.layer.0.attention.self.query.bias"


def bitfit_folder(tmp_path, deltas=None, **config_changes):
    """A valid one-delta adapter (target "query"), then ``config_changes`` written over its config."""
    folder = tmp_path / "adapter"
    save_bitfit(folder, deltas or {QUERY_BIAS: torch.ones(32)}, ["query"])
    if config_changes:
        config = json.loads((folder / "adapter_config.json").read_text())
        (folder / "adapter_config.json").write_text(json.dumps({**config, **config_changes}))
    return folder


def test_other_methods_files_are_not_ours(tmp_path) -> None:
    folder = bitfit_folder(tmp_path, method="lora")
    assert BitFitArchitecture().detect(AdapterFolder(folder)) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targets": "query"}, r"adapter_config.json: field 'targets': Input should be a valid list"),
        ({"targets": []}, r"field 'targets': List should have at least 1 item"),
        ({"extra_key": 1}, r"field 'extra_key': Extra inputs are not permitted"),
        ({"format_version": 2}, r"format_version 2 is newer than this hubcli-bitfit reads \(1\)"),
    ],
)
def test_broken_configs_are_refused(tmp_path, change, message) -> None:
    folder = bitfit_folder(tmp_path, **change)
    with pytest.raises(AdapterFormatError, match=message):
        BitFitArchitecture().detect(AdapterFolder(folder))


def test_missing_weights_are_named(tmp_path) -> None:
    folder = bitfit_folder(tmp_path)
    (folder / "bitfit.safetensors").unlink()
    with pytest.raises(AdapterFormatError, match=r"bitfit.safetensors: missing \(the bias deltas\)"):
        BitFitArchitecture().detect(AdapterFolder(folder))


@pytest.mark.parametrize(
    ("deltas", "message"),
    [
        (
            {QUERY_BIAS: torch.ones(4, 8)},
            rf"tensor '{QUERY_BIAS}' has shape \[4, 8\]; a bias delta is a vector",
        ),
        (
            {"encoder.layer.0.output.dense.bias": torch.ones(32)},
            r"module 'encoder.layer.0.output.dense', which is not among the config's targets \['query'\]",
        ),
    ],
)
def test_tensors_that_disagree_with_the_config_are_refused(tmp_path, run_hubcli, deltas, message) -> None:
    result = run_hubcli("add", bitfit_folder(tmp_path, deltas))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: bitfit.safetensors: ")
    assert re.search(message, " ".join(result.stderr.split()))
    assert run_hubcli("list", "--json").json() == []

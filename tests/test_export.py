"""``hubcli export NAME DIR``: the stored format, for every architecture, and the refusals.

In the stored format the folder must re-import to the very same adapter (same content digest)
and, for PEFT, load in real PEFT with the outputs hubcli's engine gives.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from hubcli.engine import StitchedModel, read_adapter
from hubcli.testing import model_output, tiny_inputs
from hubcli.testing.tolerance import assert_outputs_close
from registry import Registry
from tests.helpers import peft_goldens
from tests.helpers.tiny_models import peft_adapter

GOLDEN = Path(__file__).parent / "golden" / "adapterhub"
ADAPTERHUB_DIRS = {
    "bottleneck": "bert/adapters/seq_bn",  # a pickle: stored (and exported) as safetensors
    "lora": "bert/adapters/lora_head_safetensors",  # with a prediction head
    "ia3": "llama/adapters/ia3",
    "prefix_tuning": "gpt2/adapters/prefix_tuning",
    "prompt_tuning": "roberta/adapters/prompt_tuning",
}
PEFT_METHODS = {"lora": "lora", "ia3": "ia3", "prefix_tuning": "prefix", "prompt_tuning": "prompt"}


def added(cli: Any, folder: Path, *extra: str) -> dict[str, Any]:
    result = cli("add", folder, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()[0] if isinstance(result.json(), list) else result.json()


def exported(cli: Any, name: str, folder: Path, *extra: str) -> dict[str, Any]:
    result = cli("export", name, folder, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()


def assert_reimports_as_the_same_adapter(cli: Any, registry: Registry, name: str, folder: Path) -> None:
    """``hubcli add`` of the exported folder finds the registered twin (same content digest)."""
    again = added(cli, folder)
    assert again["created"] is False, again
    assert again["adapter"]["name"] == name


@pytest.mark.parametrize("architecture", sorted(ADAPTERHUB_DIRS))
def test_adapterhub_export_in_the_stored_format_reimports_identically(
    cli: Any, registry: Registry, tmp_path: Path, architecture: str
) -> None:
    name = added(cli, GOLDEN / ADAPTERHUB_DIRS[architecture])["adapter"]["name"]
    report = exported(cli, name, tmp_path / "out")
    assert (report["architecture"], report["format"], report["converted"]) == (
        architecture,
        "adapterhub",
        False,
    )
    stored = {f.path: f.sha256 for f in registry.files(registry.get_adapter(name))}
    assert sorted(stored) == report["files"]
    assert_reimports_as_the_same_adapter(cli, registry, name, tmp_path / "out")


@pytest.mark.parametrize("architecture", sorted(set(PEFT_METHODS) - {"prefix_tuning"}))
def test_peft_export_in_the_stored_format_loads_in_peft_like_hubcli_runs_it(
    cli: Any, registry: Registry, tmp_path: Path, architecture: str
) -> None:
    import peft

    base, _ = peft_adapter("bert", PEFT_METHODS[architecture], tmp_path / "saved")
    name = added(cli, tmp_path / "saved", "--name", "orig")["adapter"]["name"]
    report = exported(cli, name, tmp_path / "out")
    assert "adapter_model.safetensors" in report["files"]
    assert_reimports_as_the_same_adapter(cli, registry, name, tmp_path / "out")

    ids, mask = tiny_inputs()
    native = peft.PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path / "out")).eval()
    stitched = StitchedModel(base)
    stitched.attach(read_adapter(registry, name))
    stitched.activate(name)
    with torch.inference_mode():
        want = model_output(native(input_ids=ids, attention_mask=mask))
        got = model_output(stitched.forward(ids, mask))
    assert_outputs_close(got, want, base)


def test_peft_prefix_export_in_the_stored_format_is_what_peft_saved_and_runs_like_peft(
    cli: Any, registry: Registry, tmp_path: Path
) -> None:
    """Prefix tuning on BERT: PEFT cannot run it on every transformers the ranges allow, so the
    reference is the PEFT golden (tests/golden/peft): the exported weights are the tensors PEFT
    saved, and hubcli runs the exported adapter to the output PEFT gave for them."""
    from safetensors.torch import load_file

    source = peft_goldens.adapter_dir("bert/prefix")
    name = added(cli, source, "--name", "orig")["adapter"]["name"]
    report = exported(cli, name, tmp_path / "out")
    assert (report["architecture"], report["format"], report["converted"]) == ("prefix_tuning", "peft", False)
    assert "adapter_model.safetensors" in report["files"]
    assert_reimports_as_the_same_adapter(cli, registry, name, tmp_path / "out")
    saved = load_file(source / "adapter_model.safetensors")
    written = load_file(tmp_path / "out" / "adapter_model.safetensors")
    assert saved.keys() == written.keys() and all(torch.equal(saved[k], written[k]) for k in saved)

    base = peft_goldens.base_model("bert")
    stitched = StitchedModel(base)
    stitched.attach(read_adapter(registry, name))
    stitched.activate(name)
    ids, mask = peft_goldens.inputs("bert")
    with torch.inference_mode():
        got = model_output(stitched.forward(ids, mask))
    assert_outputs_close(got, peft_goldens.expected("bert/prefix")["logits"], base)


@pytest.mark.parametrize(
    ("source", "fmt", "why"),
    [
        ("bert/adapters/seq_bn", "peft", "cannot convert it to peft: PEFT has no bottleneck adapters"),
        ("gpt2/adapters/prefix_tuning", "peft", "keeps the real tokens at positions"),
        ("bert/adapters/prompt_tuning", "peft", "after the embeddings module"),
        ("bert/adapters/lora_head_safetensors", "peft", "prediction head"),
        ("bert/adapters/lora", "onnx", "unknown format 'onnx'"),
    ],
    ids=["bottleneck", "prefix", "prompt", "lora-head", "unknown"],
)
def test_conversions_that_are_not_exact_are_refused_in_one_line(
    cli: Any, tmp_path: Path, source: str, fmt: str, why: str
) -> None:
    name = added(cli, GOLDEN / source)["adapter"]["name"]
    result = cli("export", name, tmp_path / "out", "--format", fmt)
    assert result.exit_code == 1
    assert why in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_folder_that_holds_files(cli: Any, tmp_path: Path) -> None:
    name = added(cli, GOLDEN / "bert/adapters/lora")["adapter"]["name"]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    result = cli("export", name, tmp_path / "out")
    assert result.exit_code == 1 and "not an empty folder" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_export_prints_what_it_wrote(cli: Any, tmp_path: Path) -> None:
    name = added(cli, GOLDEN / "bert/adapters/lora")["adapter"]["name"]
    result = cli("export", name, tmp_path / "out", "--format", "peft")
    assert result.exit_code == 0, result.stderr
    assert "peft format (converted from adapterhub), 2 files" in " ".join(result.stdout.split())


@pytest.mark.parametrize(
    ("architecture", "why"), [("prefix_tuning", "positions"), ("prompt_tuning", "embeddings")]
)
def test_peft_prompt_learning_is_not_converted_to_adapterhub(
    cli: Any, tmp_path: Path, architecture: str, why: str
) -> None:
    peft_adapter("bert", PEFT_METHODS[architecture], tmp_path / "saved")
    added(cli, tmp_path / "saved", "--name", "orig")
    result = cli("export", "orig", tmp_path / "out", "--format", "adapterhub")
    assert result.exit_code == 1 and why in result.stderr, result.stderr


def test_a_plugin_whose_export_its_readers_refuse_is_reported_and_nothing_is_left(
    registry: Registry, tmp_path: Path, register_plugin: Any
) -> None:
    """The driver re-detects what a plugin wrote: a LoRA without its B matrices is a plugin bug."""
    from safetensors.torch import load_file, save_file

    from hubcli.importer import import_adapter
    from hubcli.plugin_api import AdapterFolder, PluginError
    from hubcli.services.exporting import export_adapter
    from plugins.architectures.lora import LoraArchitecture

    class LosesLoraB(LoraArchitecture):
        def export(
            self, adapter: Any, fmt: str, folder: Path, *, name: str, model_type: str | None = None
        ) -> None:
            super().export(adapter, fmt, folder, name=name, model_type=model_type)
            weights = folder / "adapter_model.safetensors"
            save_file({k: v for k, v in load_file(weights).items() if "lora_B" not in k}, weights)

    register_plugin("architecture", "lora", LosesLoraB)
    import_adapter(registry, AdapterFolder(GOLDEN / "bert/adapters/lora"), name="golden-lora")
    with pytest.raises(PluginError, match="lora plugin wrote a peft adapter that hubcli cannot read back"):
        export_adapter(registry, "golden-lora", tmp_path / "out", "peft")
    assert not (tmp_path / "out").exists()

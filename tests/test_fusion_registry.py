"""A trained fusion as a registry entry (architecture ``fusion``): AdapterHub's and hubcli's
saved fusions import, ``fuse(a, b, c, fusion=NAME)`` loads them and reproduces ``adapters``'
output, and broken or misused fusions are refused in one line with the registry unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hubcli.compose.text import format_spec, parse
from hubcli.testing.tolerance import assert_outputs_close

GOLDEN = Path(__file__).parent / "golden" / "adapterhub" / "bert"
BASE = str(GOLDEN / "base")
FUSION = GOLDEN / "adapters" / "fusion"
FUSED = ("seq_bn", "seq_bn_2", "seq_bn_3")
SPEC = "fuse(seq_bn, seq_bn_2, seq_bn_3, fusion=fz)"


@pytest.fixture
def fused(cli):
    for name in FUSED:
        assert cli("add", GOLDEN / "adapters" / name, "--name", name).exit_code == 0


def golden_hidden(registry, spec: str) -> torch.Tensor:
    from hubcli.services.stitching import checked, stitch_model

    stitched, _ = stitch_model(registry, BASE, checked(registry, parse(spec)).root)
    inputs = json.loads((GOLDEN / "inputs.json").read_text())
    with torch.inference_mode():
        return stitched.model(**{k: torch.tensor(v) for k, v in inputs.items()}).last_hidden_state


def test_adapterhub_fusion_imports_and_reproduces_the_golden_output(cli, fused, registry):
    added = cli("add", FUSION, "--name", "fz", "--json")
    assert added.exit_code == 0, added.stderr
    entry = registry.get_adapter("fz")
    assert (entry.architecture, entry.format, entry.variant) == ("fusion", "adapterhub", "dynamic")
    assert entry.method_config["adapters"] == list(FUSED)
    want = load_file(GOLDEN / "expected" / "fusion.safetensors")["last_hidden_state"]
    assert_outputs_close(golden_hidden(registry, SPEC), want, BASE)
    fresh = golden_hidden(registry, "fuse(seq_bn, seq_bn_2, seq_bn_3)")
    assert (fresh - want).abs().max().item() > 1e-3  # without fusion=: fresh layers, as before


def test_own_saved_fusion_imports_and_loads_identically(cli, fused, registry, tmp_path):
    from hubcli.services.stitching import checked, stitch_model
    from plugins.compositions.fuse.files import load_fusion, save_fusion

    stitched, _ = stitch_model(
        registry, BASE, checked(registry, parse("fuse(seq_bn, seq_bn_2, seq_bn_3)")).root
    )
    load_fusion(stitched.setup, FUSION)
    save_fusion(stitched.setup, tmp_path / "ours")
    added = cli("add", tmp_path / "ours", "--name", "fz")
    assert added.exit_code == 0, added.stderr
    assert registry.get_adapter("fz").format == "hubcli"
    want = load_file(GOLDEN / "expected" / "fusion.safetensors")["last_hidden_state"]
    assert_outputs_close(golden_hidden(registry, SPEC), want, BASE)


def test_a_fusion_is_not_an_adapter(cli, fused):
    assert cli("add", FUSION, "--name", "fz").exit_code == 0
    alone = cli("predict", BASE, "fz", "--input-ids", "[[1, 2, 3]]")
    assert alone.exit_code == 1
    assert "'fz' is a fusion, not an adapter: use fuse(seq_bn, seq_bn_2, seq_bn_3, fusion=fz)" in alone.stderr
    stacked = cli("stitch", BASE, "stack(seq_bn, fz)")
    assert (
        stacked.exit_code == 1
        and "architecture 'fusion' (adapter 'fz') does not support the 'stack' block" in stacked.stderr
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "fuse(seq_bn, seq_bn_2, fusion=fz)",
            "fusion 'fz' was trained over seq_bn, seq_bn_2, seq_bn_3, not over seq_bn, seq_bn_2",
        ),
        (
            "fuse(seq_bn_2, seq_bn, seq_bn_3, fusion=fz)",
            "not over seq_bn_2, seq_bn, seq_bn_3 (same adapters, same order)",
        ),
        (
            "fuse(seq_bn, seq_bn_2, seq_bn_3, fusion=seq_bn)",
            "fusion=seq_bn is a bottleneck adapter, not a fusion",
        ),
        ("fuse(seq_bn, seq_bn_2, seq_bn_3, fusion=nope)", "no adapter named 'nope'"),
        ("fuse(seq_bn, seq_bn_2, seq_bn_3, fusion=[1])", "fusion must name a registered fusion"),
    ],
)
def test_fusion_argument_is_checked_against_the_registry(cli, fused, spec, message):
    assert cli("add", FUSION, "--name", "fz").exit_code == 0
    result = cli("stitch", BASE, spec)
    assert result.exit_code == 1 and message in result.stderr


def test_fusion_argument_round_trips_in_text_and_json():
    from hubcli.compose.spec import from_json, to_json

    for text in ("fuse(a, b, fusion=ab)", 'fuse(a, b, fusion="12", static=1)'):
        tree = parse(text)
        assert format_spec(tree) == text and parse(format_spec(tree)) == tree
        assert from_json(to_json(tree)) == tree


def _broken(tmp_path: Path, change) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(FUSION, folder)
    change(folder)
    return folder


def _retyped(folder: Path) -> None:
    state = torch.load(folder / "pytorch_model_adapter_fusion.bin", weights_only=True)
    key = next(k for k in state if k.endswith("query.weight"))
    state[key] = state[key][:, :8].contiguous()
    (folder / "pytorch_model_adapter_fusion.bin").unlink()
    save_file(state, folder / "model_adapter_fusion.safetensors")


def _renamed(folder: Path) -> None:
    state = torch.load(folder / "pytorch_model_adapter_fusion.bin", weights_only=True)
    key = next(iter(state))
    state["bert.pooler.dense.weight"] = state.pop(key)
    torch.save(state, folder / "pytorch_model_adapter_fusion.bin")


def _static_config(folder: Path) -> None:
    data = json.loads((folder / "adapter_fusion_config.json").read_text())
    data["config"]["value"] = False
    (folder / "adapter_fusion_config.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: (f / "pytorch_model_adapter_fusion.bin").unlink(), "the fusion has no weights"),
        (_retyped, "has shape [32, 8], expected [32, 32] (hidden size 32)"),
        (_renamed, "unexpected tensor 'bert.pooler.dense.weight'"),
        (_static_config, "the config asks for ['key.bias', 'key.weight', 'query.bias', 'query.weight']"),
        (
            lambda f: (f / "adapter_fusion_config.json").write_text('{"adapter_names": ["a"], "config": {}}'),
            "field 'adapter_names'",
        ),
    ],
)
def test_bad_fusion_files_are_refused_in_one_line(cli, tmp_path, change, message):
    result = cli("add", _broken(tmp_path, change), "--name", "fz")
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert cli("list", "--json").json() == []


def test_fusion_exports_as_stored_and_imports_back(cli, tmp_path):
    assert cli("add", FUSION, "--name", "fz").exit_code == 0
    exported = cli("export", "fz", tmp_path / "out")
    assert exported.exit_code == 0, exported.stderr
    again = cli("add", tmp_path / "out", "--name", "fz2", "--json")
    assert again.exit_code == 0, again.stderr

"""``hubcli stitch`` and ``hubcli predict --per-row`` end to end, on the AdapterHub goldens'
tiny BERT and its adapters imported with ``hubcli add``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hubcli.testing.tolerance import assert_outputs_close

GOLDEN = Path(__file__).parent / "golden" / "adapterhub" / "bert"
BASE = str(GOLDEN / "base")
IDS = [[5, 9, 14, 3, 77, 41, 8], [12, 6, 90, 31, 4, 18, 2], [7, 7, 21, 60, 3, 9, 11]]


@pytest.fixture
def adapters(cli):
    for name in ("lora", "lora_2", "ia3", "seq_bn", "seq_bn_2"):
        result = cli("add", GOLDEN / "adapters" / name, "--name", name)
        assert result.exit_code == 0, result.stderr


def predict(cli, spec: str, *extra: str) -> torch.Tensor:
    result = cli("predict", BASE, spec, "--input-ids", json.dumps(IDS), "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return torch.tensor(result.json()["values"])


def test_spec_errors_point_at_the_column(cli, adapters):
    result = cli("stitch", BASE, "stack(lora, lora_2")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert "expected ',' or ')', found the end at column 19" in lines[0]
    assert lines[-1] == "  " + " " * 18 + "^"


def test_unsupported_pairs_and_unknown_adapters_are_refused(cli, adapters):
    result = cli("stitch", BASE, "stack(seq_bn, split(lora, seq_bn, sizes=[3, 4]))")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert "architecture 'lora' (adapter 'lora') does not support the 'split' block" in lines[0]
    assert lines[-1] == "  " + " " * 20 + "^"  # under "lora" inside split(…)
    result = cli("stitch", BASE, "stack(lora, missing)")
    assert result.exit_code == 1 and "no adapter named 'missing'" in result.stderr


def test_saved_recipe_lists_and_predicts(cli, adapters):
    spec = "average(lora, lora_2, weights=[0.7, 0.3])"
    result = cli("stitch", BASE, spec, "--save", "blend", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["adapters"] == [
        {"name": "lora", "architecture": "lora"},
        {"name": "lora_2", "architecture": "lora"},
    ]
    listed = cli("list", "--compositions", "--json").json()
    assert [(r["name"], r["spec"]) for r in listed] == [("blend", spec)]
    assert torch.equal(predict(cli, "blend"), predict(cli, spec))
    again = cli("stitch", BASE, spec, "--save", "blend")
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_bundle_reloads_to_the_same_outputs(cli, adapters, tmp_path):
    from hubcli.compose.bundle import load_bundle

    spec = "batch_split(stack(seq_bn, lora), average(seq_bn_2, ia3), sizes=[2, 1])"
    result = cli("stitch", BASE, spec, "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.stderr
    stitched = load_bundle(tmp_path / "bundle")
    with torch.inference_mode():
        got = stitched.model(input_ids=torch.tensor(IDS)).last_hidden_state
    assert_outputs_close(got, predict(cli, spec), BASE)


def test_merged_lora_stack_is_a_plain_transformers_model(cli, adapters, tmp_path):
    from transformers import AutoModel

    result = cli("stitch", BASE, "stack(lora, ia3, lora_2)", "--out", tmp_path / "merged", "--merge")
    assert result.exit_code == 0, result.stderr
    plain = AutoModel.from_pretrained(tmp_path / "merged").eval()
    assert not any("lora" in key or "base" in key.split(".") for key in plain.state_dict())
    with torch.inference_mode():
        got = plain(input_ids=torch.tensor(IDS)).last_hidden_state
    assert_outputs_close(got, predict(cli, "stack(lora, ia3, lora_2)"), BASE)
    refused = cli("stitch", BASE, "stack(seq_bn, lora)", "--out", tmp_path / "no", "--merge")
    assert refused.exit_code == 1 and "adapter 'seq_bn' works on sub-blocks" in refused.stderr


def test_predict_per_row_equals_each_row_alone(cli, adapters):
    from transformers import AutoModel

    got = predict(cli, "lora", "--per-row", "lora_2,-,seq_bn")
    with torch.inference_mode():
        base = AutoModel.from_pretrained(BASE).eval()(input_ids=torch.tensor(IDS)).last_hidden_state
    singles = [predict(cli, "lora_2")[0], base[1], predict(cli, "seq_bn")[2]]
    deactivated = cli("predict", BASE, "lora", "--input-ids", json.dumps(IDS), "--json", "--per-row", "-,-,-")
    assert deactivated.exit_code == 1 and "name at least one adapter" in deactivated.stderr
    for row, single in enumerate(singles):
        assert_outputs_close(got[row], single, BASE)
    wrong = cli("predict", BASE, "lora", "--input-ids", json.dumps(IDS), "--per-row", "lora,lora_2")
    assert wrong.exit_code == 1 and "2 row assignments for a batch of 3 rows" in wrong.stderr


def test_bundle_keeps_a_trained_fusion(cli, tmp_path):
    """The AdapterHub fusion given with --fusion is saved in the bundle and reproduces the
    ``adapters`` golden output after reloading."""
    from safetensors.torch import load_file

    from hubcli.compose.bundle import load_bundle

    for name in ("seq_bn", "seq_bn_2", "seq_bn_3"):
        assert cli("add", GOLDEN / "adapters" / name, "--name", name).exit_code == 0
    spec = "fuse(seq_bn, seq_bn_2, seq_bn_3)"
    result = cli(
        "stitch", BASE, spec, "--out", tmp_path / "bundle", "--fusion", GOLDEN / "adapters" / "fusion"
    )
    assert result.exit_code == 0, result.stderr
    stitched = load_bundle(tmp_path / "bundle")
    inputs = json.loads((GOLDEN / "inputs.json").read_text())
    with torch.inference_mode():
        got = stitched.model(**{k: torch.tensor(v) for k, v in inputs.items()}).last_hidden_state
    want = load_file(GOLDEN / "expected" / "fusion.safetensors")["last_hidden_state"]
    assert_outputs_close(got, want, BASE)
    wrong = cli(
        "stitch",
        BASE,
        "stack(seq_bn, seq_bn_2)",
        "--out",
        tmp_path / "x",
        "--fusion",
        GOLDEN / "adapters" / "fusion",
    )
    assert wrong.exit_code == 1 and "exactly one fuse block" in wrong.stderr


def test_adapterhub_setup_file_gives_the_adapters_numbers(cli, tmp_path):
    """AdapterHub's saved setup (Stack(seq_bn, lora)) with its adapters from the sub-folders."""
    from safetensors.torch import load_file

    setup = GOLDEN / "adapters" / "setup_stack"
    for name in ("seq_bn", "lora"):
        assert cli("add", setup / name, "--name", name).exit_code == 0
    result = cli("stitch", BASE, setup / "adapter_setup.json", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["spec"] == "stack(seq_bn, lora)"
    inputs = json.loads((GOLDEN / "inputs.json").read_text())
    got = cli(
        "predict",
        BASE,
        str(setup / "adapter_setup.json"),
        "--input-ids",
        json.dumps(inputs["input_ids"]),
        "--json",
    )
    assert got.exit_code == 0, got.stderr
    want = load_file(GOLDEN / "expected" / "setup_stack.safetensors")["last_hidden_state"]
    # --input-ids rows of equal length get no padding mask, while the golden's second row masks
    # its last position: compare the first row, which has no padding
    values = torch.tensor(got.json()["values"])
    assert all(inputs["attention_mask"][0])
    assert_outputs_close(values[0], want[0], BASE)

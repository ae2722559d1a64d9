"""``hubcli compare`` / ``similar`` end to end on real adapters: PEFT LoRAs made on a tiny BERT,
AdapterHub golden bottleneck adapters, and CKA between the tiny BERT with and without a LoRA."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from tests.test_analysis_modules import BASE, GOLDEN_BERT, save_peft_lora
from tests.test_analysis_representations import save_tiny_base, write_ids


def nudged_copy(source: Path, target: Path, size: float) -> Path:
    """The LoRA at ``source`` with every factor moved a little: a near neighbour."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    generator = torch.Generator().manual_seed(0)
    tensors = load_file(source / "adapter_model.safetensors")
    save_file(
        {k: v + size * torch.randn(v.shape, generator=generator) for k, v in tensors.items()},
        target / "adapter_model.safetensors",
    )
    return target


@pytest.fixture
def adapters(cli, tmp_path: Path) -> list[str]:
    """Three PEFT LoRAs (``near`` is ``first`` nudged) and two AdapterHub bottleneck adapters."""
    first = save_peft_lora(tmp_path / "first", seed=1)
    folders = {
        "first": first,
        "near": nudged_copy(first, tmp_path / "near", 0.01),
        "far": save_peft_lora(tmp_path / "far", seed=2),
        "bn-a": GOLDEN_BERT / "adapters" / "seq_bn",
        "bn-b": GOLDEN_BERT / "adapters" / "seq_bn_2",
    }
    for name, folder in folders.items():
        added = cli("add", folder, "--name", name, "--base", BASE)
        assert added.exit_code == 0, added.stderr
    return list(folders)


def test_compare_matrix_map_layers_and_filters(cli, adapters: list[str]) -> None:
    result = cli("compare", "first", "near", "far", "--per-layer", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    matrix = torch.tensor(data["matrix"])
    assert data["adapters"] == ["first", "near", "far"] and data["metric"] == "l2"
    assert torch.equal(matrix, matrix.T) and torch.all(matrix.diagonal() == 0)
    assert 0 < matrix[0, 1] < matrix[0, 2] / 10
    assert data["modules"] == ["layer.0.q", "layer.0.v", "layer.1.q", "layer.1.v"]
    assert list(data["per_layer"]) == ["layer.0", "layer.1"]
    coords = {name: torch.tensor(xy) for name, xy in data["map"]["coordinates"].items()}
    assert torch.linalg.norm(coords["first"] - coords["far"]) == pytest.approx(float(matrix[0, 2]), rel=0.05)

    only_q = cli("compare", "first", "far", "--matrices", "q", "--metric", "grassmann", "--json").json()
    assert only_q["modules"] == ["layer.0.q", "layer.1.q"]
    assert 0 < only_q["matrix"][0][1] <= 2 * 3.1416 / 2 + 1e-6

    bottleneck = cli("compare", "bn-a", "bn-b", "--metric", "cosine", "--json").json()
    assert bottleneck["modules"] == ["layer.0.output", "layer.1.output"]


def test_compare_human_output_and_plots(cli, adapters: list[str], tmp_path: Path) -> None:
    human = cli("compare", "first", "near", "far", "--per-layer", "--plot", tmp_path / "map.png")
    assert human.exit_code == 0, human.stderr
    assert "l2 distance, mean over 2 layers" in human.stdout and "2-D map" in human.stdout
    assert "layer.1" in human.stdout
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = cli("compare", "first", "far", "--plot", tmp_path / "map.svg", "--json")
    assert svg.json()["plot"].endswith("map.svg") and "<svg" in (tmp_path / "map.svg").read_text()


def test_compare_refusals_are_one_line(cli, adapters: list[str], tmp_path: Path, monkeypatch) -> None:
    mixed = cli("compare", "first", "bn-a")
    assert mixed.exit_code == 1 and "different architectures (lora vs bottleneck)" in mixed.stderr
    assert len(mixed.stderr.strip().splitlines()) == 1
    grassmann = cli("compare", "bn-a", "bn-b", "--metric", "grassmann")
    assert grassmann.exit_code == 1 and "needs low-rank updates" in grassmann.stderr
    assert cli("compare", "first").exit_code == 1
    assert cli("compare", "first", "far", "--metric", "manhattan").exit_code == 1
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    no_plots = cli("compare", "first", "far", "--plot", tmp_path / "x.png")
    assert no_plots.exit_code == 1 and "pip install 'hubcli[plots]'" in no_plots.stderr


def test_similar_ranks_same_method_and_base(cli, adapters: list[str], tmp_path: Path) -> None:
    result = cli("similar", "first", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert [n["name"] for n in data["neighbours"]] == ["near", "far"]
    assert data["neighbours"][0]["modules"] == 4 and data["skipped"] == {}
    assert [n["name"] for n in cli("similar", "first", "--top", "1", "--json").json()["neighbours"]] == [
        "near"
    ]
    assert [
        n["name"] for n in cli("similar", "bn-a", "--metric", "cosine", "--json").json()["neighbours"]
    ] == ["bn-b"]
    dora = save_peft_lora(tmp_path / "dora", seed=5)
    config = json.loads((dora / "adapter_config.json").read_text())
    (dora / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    from safetensors.torch import load_file, save_file

    tensors = load_file(dora / "adapter_model.safetensors")
    for key in [k for k in tensors if k.endswith("lora_B.weight")]:
        tensors[key.replace("lora_B.weight", "lora_magnitude_vector")] = torch.ones(tensors[key].shape[0])
    save_file(tensors, dora / "adapter_model.safetensors")
    assert cli("add", dora, "--name", "dora", "--base", BASE).exit_code == 0
    skipped = cli("similar", "first", "--json").json()["skipped"]
    assert list(skipped) == ["dora"] and "is a DoRA" in skipped["dora"]
    human = cli("similar", "far", "--matrices", "v")
    assert "nearest to far" in human.stdout and "first" in human.stdout


def test_compare_cka(cli, registry, tmp_path: Path) -> None:
    base = save_tiny_base(tmp_path / "base")
    assert (
        cli("add", save_peft_lora(tmp_path / "strong", seed=1, alpha=64), "--name", "strong").exit_code == 0
    )
    ids = write_ids(tmp_path / "ids.jsonl", 40)
    args = ["compare", "--cka", base, "base", "strong", "--dataset", ids, "--batch-size", "8"]
    data = cli(*args, "--json").json()
    assert data["layers_a"] == ["emb", "L1", "L2"] and data["examples"] == 40 and data["batches"] == 5
    assert data["diagonal"]["emb"] == pytest.approx(1.0, abs=1e-6) and data["diagonal"]["L2"] < 0.999
    human = cli(*args, "--layers", "0,2", "--pool", "tokens", "--plot", tmp_path / "cka.png")
    assert human.exit_code == 0, human.stderr
    assert "linear CKA: base (rows) vs strong (columns)" in " ".join(human.stdout.split())
    assert "same depth: emb 1.000" in human.stdout and "(tokens pooling)" in human.stdout
    assert (tmp_path / "cka.png").stat().st_size > 1000
    texts = tmp_path / "texts.jsonl"
    texts.write_text(
        "".join(json.dumps({"sentence": s}) + "\n" for s in ["the film was good", "a dull plot"] * 4)
    )
    from_text = cli(*args[:5], "--dataset", texts, "--column", "sentence", "--json")
    assert from_text.exit_code == 0, from_text.stderr
    assert from_text.json()["examples"] == 8
    assert cli("compare", "--cka", base, "base", "strong").exit_code == 1
    assert cli("add", save_peft_lora(tmp_path / "weak", seed=2, alpha=1), "--name", "weak").exit_code == 0
    stacked = cli("compare", "--cka", base, "strong", "strong+weak", "--dataset", ids, "--json")
    assert stacked.exit_code == 0, stacked.stderr
    assert 0.9 < stacked.json()["diagonal"]["L2"] < 1.0

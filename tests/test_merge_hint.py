"""``hubcli merge-hint`` / ``merge-hints`` on real tiny LoRAs: two trained on the synthetic
sentiment task and a near copy of one, on a tiny BERT with a real tokenizer. The measurement is
one stored row with everything needed to relate distance and drop; the averaged adapter does not
stay in the registry; refusals are one line and change nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from hubcli.analysis.hint_records import hint_groups, pair_target, spearman
from hubcli.services.training import TrainRequest, train_adapter
from hubcli.train.loop import LoopSettings
from registry import Evaluation, Registry
from tests.helpers.registry_state import registry_bytes
from tests.helpers.text_models import sentiment_rows, write_jsonl
from tests.test_analysis_modules import BASE, GOLDEN_BERT, save_peft_lora


@pytest.fixture
def sentiment(tmp_path: Path) -> Path:
    rows = sentiment_rows(60)
    for index, row in enumerate(rows):
        row["split"] = "test" if index < 24 else "train"
    return write_jsonl(tmp_path / "sentiment.jsonl", rows)


def _train(registry: Registry, base: Path, dataset: Path, name: str, seed: int) -> None:
    settings = LoopSettings(epochs=1, learning_rate=5e-2, batch_size=8, max_steps=4, seed=seed)
    train_adapter(registry, TrainRequest("lora", str(base), str(dataset), name, settings=settings))


def _add_nudged_copy(registry: Registry, cli, source: str, name: str, folder: Path) -> None:
    """Register ``source``'s files with every LoRA factor moved a little: a near neighbour."""
    from safetensors.torch import load_file, save_file

    adapter = registry.get_adapter(source)
    folder.mkdir()
    for file in registry.files(adapter):
        shutil.copyfile(registry.file_path(file), folder / file.path)
    weights = folder / "adapter_model.safetensors"
    generator = torch.Generator().manual_seed(0)
    tensors = {
        key: value + 0.01 * value.abs().mean() * torch.randn(value.shape, generator=generator)
        if "lora_" in key
        else value
        for key, value in load_file(weights).items()
    }
    save_file(tensors, weights)
    added = cli("add", folder, "--name", name, "--base", adapter.base_model)
    assert added.exit_code == 0, added.stderr
    registry.set_labels(name, adapter.labels)  # PEFT files carry no label names


@pytest.fixture
def loras(registry: Registry, cli, tiny_bert: Path, sentiment: Path, tmp_path: Path) -> list[str]:
    _train(registry, tiny_bert, sentiment, "a", seed=1)
    _train(registry, tiny_bert, sentiment, "b", seed=2)
    _add_nudged_copy(registry, cli, "a", "near", tmp_path / "near")
    return ["a", "b", "near"]


def _adapters_and_blobs(registry: Registry) -> tuple[list[str], list[str]]:
    blobs = sorted(p.name for p in (registry.home / "blobs").rglob("*") if p.is_file())
    return sorted(a.name for a in registry.list_adapters()), blobs


def test_measure_stores_one_row_and_leaves_no_average(
    registry: Registry, cli, loras: list[str], sentiment: Path
) -> None:
    before = _adapters_and_blobs(registry)
    evaluations_before = len(registry.evaluations())
    args = ["merge-hint", "b", "a", "--dataset", sentiment, "--split", "test", "--matrices", "v"]
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["target"] == "merge-hint(a, b)" and data["adapters"] == ["b", "a"]
    assert data["distance_metric"] == "grassmann" and data["matrices"] == ["v"] and data["n"] == 24
    assert 0 < data["distance"] <= 4**0.5 * torch.pi / 2 + 1e-6
    scores = data["scores"]
    for metric, average in scores["average"].items():
        expected = (scores["a"][metric] + scores["b"][metric]) / 2 - average
        assert data["drops"][metric] == pytest.approx(expected)
    assert _adapters_and_blobs(registry) == before  # the averaged adapter is gone, blobs too

    hints = [e for e in registry.evaluations() if e.target.startswith("merge-hint(")]
    assert len(hints) == 1
    row = hints[0]
    assert (row.metric, row.value, row.adapter_id) == ("accuracy_drop", data["drops"]["accuracy"], None)
    assert (row.task, row.split, row.n) == ("classification", "test", 24)
    assert row.extra["distance_metric"] == "grassmann" and row.extra["distance"] == pytest.approx(
        data["distance"]
    )
    assert row.extra["matrices"] == ["v"] and len(row.extra["modules"]) == 2
    assert row.extra["merge_method"] == "linear" and row.extra["scores"] == scores
    assert data["reused"] == ["b", "a"]  # training stored both adapters' scores on the test split
    assert len(registry.evaluations()) == evaluations_before + 1

    fresh = [*args, "--limit", "20", "--metric", "cosine", "--score", "f1_macro"]
    measured = cli(*fresh, "--json").json()
    assert measured["reused"] == [] and measured["stored"]["metric"] == "f1_macro_drop"
    assert len(registry.evaluations(target="a")) == len(registry.evaluations(target="b"))
    stored = len(registry.evaluations())
    assert stored == evaluations_before + 2 + 2 * len(scores["a"])  # a's and b's new scores are kept
    again = cli(*fresh)
    assert again.exit_code == 0, again.stderr
    assert "stored scores reused for b, a" in again.stdout and "f1_macro_drop" in again.stdout
    assert len(registry.evaluations()) == stored + 1


def test_listing_relates_distance_and_drop(
    registry: Registry, cli, loras: list[str], sentiment: Path
) -> None:
    for a, b in (("a", "near"), ("a", "b"), ("near", "b")):
        measured = cli("merge-hint", a, b, "--dataset", sentiment, "--split", "test", "--limit", "16")
        assert measured.exit_code == 0, measured.stderr
    (group,) = cli("merge-hints", "--json").json()
    assert (group["distance_metric"], group["matrices"], group["drop_metric"]) == (
        "grassmann",
        "all",
        "accuracy_drop",
    )
    pairs = group["pairs"]
    assert [p["adapters"] for p in pairs][0] == ["a", "near"]  # sorted by distance: the near pair first
    assert pairs[0]["distance"] < pairs[1]["distance"] / 5
    assert group["spearman"] is None or -1 <= group["spearman"] <= 1  # three real pairs
    human = cli("merge-hints")
    assert "merge hints on sentiment.jsonl [test]" in human.stdout and "a + near" in human.stdout
    assert "Spearman correlation" in human.stdout
    assert cli("merge-hints", "--dataset", "elsewhere.csv").stdout.startswith("no merge hints stored")


def _hint(pair: tuple[str, str], distance: float, value: float, metric: str = "grassmann") -> Evaluation:
    extra = {
        "merge_hint": True,
        "adapters": list(pair),
        "distance_metric": metric,
        "distance": distance,
        "matrices": "all",
    }
    return Evaluation(
        target=pair_target(*pair),
        dataset="d.csv",
        dataset_fingerprint="f",
        task="classification",
        metric="accuracy_drop",
        value=value,
        extra=extra,
    )


def test_groups_keep_the_latest_per_pair_and_correlate(registry: Registry, cli) -> None:
    """Spearman over four pairs, ranks (1 2 3 4) against (1 3 2 4): 1 − 6·2/(4·15) = 0.8."""
    registry.add_evaluations([_hint(("a", "b"), 0.1, 0.5), _hint(("c", "d"), 0.5, 0.1)])
    registry.add_evaluations(
        [
            _hint(("b", "a"), 0.1, 0.0),  # measured again: replaces the first
            _hint(("a", "c"), 0.9, 0.05),
            _hint(("b", "d"), 1.2, 0.3),
            _hint(("a", "b"), 0.4, 0.2, metric="cosine"),
            Evaluation(target="a", dataset="d.csv", metric="accuracy", value=0.9),
        ]
    )
    groups = {group.distance_metric: group for group in hint_groups(registry)}
    assert [row.target for row in groups["grassmann"].rows] == [
        "merge-hint(a, b)",
        "merge-hint(c, d)",
        "merge-hint(a, c)",
        "merge-hint(b, d)",
    ]
    assert groups["grassmann"].spearman == pytest.approx(0.8)
    assert groups["cosine"].spearman is None and spearman([1, 2, 3], [5, 5, 5]) is None
    human = cli("merge-hints", "--dataset", "d.csv")
    assert "Spearman correlation of distance and drop: +0.800" in human.stdout
    assert "needs three pairs or more" in human.stdout


def test_refusals_are_one_line_and_change_nothing(
    registry: Registry, cli, loras: list[str], sentiment: Path, tmp_path: Path
) -> None:
    assert cli("add", GOLDEN_BERT / "adapters" / "seq_bn", "--name", "bn", "--base", BASE).exit_code == 0
    assert (
        cli("add", save_peft_lora(tmp_path / "other", seed=3), "--name", "other", "--base", BASE).exit_code
        == 0
    )
    registry.set_labels("near", ["negative", "neutral"])
    before = registry_bytes(registry.home)
    for pair, message in (
        (("a", "bn"), "needs two LoRAs; 'bn' is a bottleneck adapter"),
        (("a", "near"), "the heads have different labels"),
        (("a", "other"), "different base models"),
        (("a", "a"), "give two different adapters"),
        (("a", "missing"), "missing"),
    ):
        result = cli("merge-hint", *pair, "--dataset", sentiment)
        assert result.exit_code == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    bad_score = cli("merge-hint", "a", "b", "--dataset", sentiment, "--score", "bleu")
    assert bad_score.exit_code == 1 and "--score 'bleu' is not a metric" in bad_score.stderr
    wrong_labels = write_jsonl(tmp_path / "yes.jsonl", [{"text": "good film", "label": "yes"}])
    failed = cli("merge-hint", "a", "b", "--dataset", wrong_labels)  # fails while the average is scored
    assert failed.exit_code == 1 and "is not one of the head's labels" in failed.stderr
    assert registry_bytes(registry.home) == before

"""hubcli train: new adapters of every built-in architecture, trained through the engine on a
tiny BERT and a synthetic task, registered, and loaded back identically."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch

from hubcli.engine import load
from hubcli.services.evaluating import EvalRequest, evaluate
from hubcli.services.training import TrainRequest, train_adapter
from hubcli.train.loop import LoopSettings
from hubcli.train.parameters import adapter_modules
from tests.helpers.text_models import sentiment_rows, write_jsonl


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = sentiment_rows(240)
    for index, row in enumerate(rows):
        row["split"] = "test" if index < 40 else "train"
    return write_jsonl(tmp_path_factory.mktemp("data") / "sentiment.jsonl", rows)


def _train(
    registry, base: Path, data: Path, arch: str, name: str, epochs: int = 8, lr: float = 1e-2, **options
):
    settings = LoopSettings(epochs=epochs, learning_rate=lr, batch_size=16, patience=None)
    return train_adapter(
        registry, TrainRequest(arch, str(base), str(data), name, options=options, settings=settings)
    )


@pytest.mark.slow
def test_lora_learns_what_the_base_cannot(registry, tiny_bert: Path, sentiment: Path) -> None:
    chance = evaluate(registry, EvalRequest("-", str(sentiment), split="test", base=str(tiny_bert)))
    result = _train(registry, tiny_bert, sentiment, "lora", "sentiment-lora")
    before = chance.branches[0].scores["accuracy"]
    after = result.final.branches[0].scores["accuracy"]
    assert before <= 0.7 and after >= 0.9, (before, after)
    stored = {e.metric: e.value for e in registry.evaluations(target="sentiment-lora")}
    assert stored["accuracy"] == pytest.approx(after)
    adapter = registry.get_adapter("sentiment-lora")
    assert adapter.labels == ["negative", "positive"]
    assert adapter.base_model == str(tiny_bert) and "trained by hubcli train" in adapter.description
    assert {"trained", "classification"} <= set(registry.tags(adapter))


@pytest.mark.parametrize(
    ("arch", "options"),
    [
        ("lora", {"r": "4", "targets": "q,v,ffn_out"}),
        ("bottleneck", {"reduction_factor": "2"}),
        ("ia3", {}),
        ("prefix_tuning", {"tokens": "4"}),
        ("prompt_tuning", {"tokens": "4"}),
    ],
)
def test_every_architecture_trains_and_round_trips(
    registry, tiny_bert: Path, sentiment: Path, arch: str, options
) -> None:
    result = _train(registry, tiny_bert, sentiment, arch, f"t-{arch}", epochs=4, **options)
    losses = result.history.losses
    assert statistics.mean(losses[-8:]) < 0.85 * statistics.mean(losses[:8])
    learned = {
        id(p): p
        for m in adapter_modules(result.model, f"t-{arch}")
        for p in m.parameters()
        if p.requires_grad
    }
    assert {id(p) for p in result.model.model.parameters() if p.requires_grad} <= set(learned)  # base frozen
    assert sum(p.numel() for p in learned.values()) == result.parameters
    ids = torch.tensor([[2, 5, 19, 3, 0], [2, 11, 28, 17, 3]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    trained = result.model.forward(ids, mask)["logits"]
    reloaded = load(str(tiny_bert), [f"t-{arch}"], registry=registry).forward(ids, mask)["logits"]
    torch.testing.assert_close(reloaded, trained)


def test_train_cli(cli, tiny_bert: Path, sentiment: Path) -> None:
    result = cli(
        "train",
        "--arch",
        "lora",
        "--base",
        tiny_bert,
        "--dataset",
        sentiment,
        "--name",
        "cli-lora",
        "--config",
        "r=2",
        "--max-steps",
        "3",
        "--eval-every",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["steps"] == 3 and [e["step"] for e in data["evaluations"]] == [2, 3]
    assert data["final"]["n"] == 40
    shown = cli("show", "cli-lora", "--json").json()
    assert {e["metric"] for e in shown["evaluations"]} == {"accuracy", "f1_macro", "matthews"}


def test_early_stopping_restores_the_best(registry, tiny_bert: Path, sentiment: Path) -> None:
    settings = LoopSettings(epochs=30, learning_rate=1e-2, batch_size=16, patience=1, seed=1)
    result = train_adapter(
        registry, TrainRequest("lora", str(tiny_bert), str(sentiment), "early", settings=settings)
    )
    assert result.history.stopped_early and result.history.steps < 30 * 13
    best = result.history.best["scores"]["accuracy"]
    assert result.final.branches[0].scores["accuracy"] == pytest.approx(best)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "dora"], "cannot train architecture 'dora'"),
        (["--arch", "lora", "--config", "rank=4"], "unknown option 'rank'"),
        (["--arch", "lora", "--config", "targets=q,zz"], "unknown target 'zz'"),
        (["--arch", "bottleneck", "--task", "regression"], "not for regression"),
    ],
)
def test_train_refusals(cli, tiny_bert: Path, sentiment: Path, args: list[str], message: str) -> None:
    result = cli(
        "train", "--base", tiny_bert, "--dataset", sentiment, "--name", "x", "--max-steps", "1", *args
    )
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_a_file_without_splits_holds_out_a_tenth(registry, tiny_bert: Path, tmp_path: Path) -> None:
    import csv

    path = tmp_path / "plain.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(sentiment_rows(50))
    settings = LoopSettings(epochs=1, batch_size=8, max_steps=1)
    result = train_adapter(
        registry, TrainRequest("lora", str(tiny_bert), str(path), "plain", settings=settings)
    )
    assert (result.final.split, result.final.n) == ("holdout-0", 5)
    assert {e.split for e in registry.evaluations(target="plain")} == {"holdout-0"}

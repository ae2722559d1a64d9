"""hubcli train --fuse: a fusion (with its own head) over two trained bottleneck adapters, on a
tiny BERT and a synthetic task: it learns, registers as a fusion, and reloads identically through
``fuse(a, b, fusion=NAME)``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hubcli.services.training import TrainRequest, train_adapter
from hubcli.testing.tolerance import assert_outputs_close
from hubcli.train.fusion import train_fusion_entry
from hubcli.train.loop import LoopSettings
from tests.helpers.text_models import sentiment_rows, write_jsonl


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = sentiment_rows(240)
    for index, row in enumerate(rows):
        row["split"] = "test" if index < 40 else "train"
    return write_jsonl(tmp_path_factory.mktemp("data") / "sentiment.jsonl", rows)


@pytest.fixture
def experts(registry, tiny_bert: Path, sentiment: Path) -> list[str]:
    settings = LoopSettings(epochs=2, learning_rate=1e-2, batch_size=16, patience=None)
    for name in ("bn-a", "bn-b"):
        train_adapter(
            registry,
            TrainRequest(
                "bottleneck",
                str(tiny_bert),
                str(sentiment),
                name,
                settings=settings,
                options={"reduction_factor": "2"},
            ),
        )
    return ["bn-a", "bn-b"]


def test_fusion_learns_registers_and_reloads(registry, tiny_bert: Path, sentiment: Path, experts) -> None:
    from hubcli.compose.text import parse
    from hubcli.services.stitching import checked, stitch_model

    settings = LoopSettings(epochs=3, learning_rate=1e-2, batch_size=16)
    result = train_fusion_entry(
        registry, TrainRequest("fusion", str(tiny_bert), str(sentiment), "ab", settings=settings), experts
    )
    assert result.spec == "fuse(bn-a, bn-b, fusion=ab)"
    before = result.untrained["accuracy"]
    after = result.final.branches[0].scores["accuracy"]
    assert after >= before + 0.2, (before, after)  # from chance (0.5) with a fresh head
    entry = registry.get_adapter("ab")
    assert (entry.architecture, entry.format, entry.labels) == ("fusion", "hubcli", ["negative", "positive"])
    assert entry.method_config["adapters"] == experts
    stored = {e.metric: e.value for e in registry.evaluations(target=result.spec)}
    assert stored["accuracy"] == pytest.approx(after)

    ids = torch.tensor([[2, 5, 19, 3, 0], [2, 11, 28, 17, 3]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    reloaded, _ = stitch_model(registry, str(tiny_bert), checked(registry, parse(result.spec)).root)
    assert_outputs_close(
        reloaded.forward(ids, mask)["logits"], result.model.forward(ids, mask)["logits"], reloaded
    )


def test_train_fuse_cli(cli, registry, tiny_bert: Path, sentiment: Path, experts) -> None:
    result = cli(
        "train",
        "--fuse",
        "bn-a,bn-b",
        "--base",
        tiny_bert,
        "--dataset",
        sentiment,
        "--name",
        "ab",
        "--epochs",
        "1",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["architecture"] == "fusion" and data["final"]["n"] == 40
    evaluated = cli(
        "eval", "fuse(bn-a, bn-b, fusion=ab)", "--dataset", sentiment, "--split", "test", "--json"
    )
    assert evaluated.exit_code == 0, evaluated.stderr
    both = cli(
        "train",
        "--fuse",
        "bn-a,bn-b",
        "--arch",
        "lora",
        "--base",
        tiny_bert,
        "--dataset",
        sentiment,
        "--name",
        "x",
    )
    assert both.exit_code != 0 and "either --arch" in both.stderr
    options = cli(
        "train",
        "--fuse",
        "bn-a,bn-b",
        "--config",
        "r=2",
        "--base",
        tiny_bert,
        "--dataset",
        sentiment,
        "--name",
        "x",
    )
    assert options.exit_code == 1 and "--config" in options.stderr
    again = cli("train", "--fuse", "bn-a,bn-b", "--base", tiny_bert, "--dataset", sentiment, "--name", "ab")
    assert again.exit_code == 1 and "already registered" in again.stderr
    assert registry.get_adapter("ab").architecture == "fusion"

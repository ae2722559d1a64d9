"""hubcli eval / evals on a tiny BERT and GPT-2 with real tokenizers: every task type, stored
rows, label matching by name, parallel compositions (one score per branch), dataset formats."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from hubcli.evaluate import data
from hubcli.services.training import TrainRequest, train_adapter
from hubcli.train.loop import LoopSettings
from tests.helpers.text_models import (
    entity_rows,
    sentiment_rows,
    write_jsonl,
    write_tiny_gpt2,
)


@pytest.fixture
def sentiment(tmp_path: Path) -> Path:
    rows = sentiment_rows(60)
    for index, row in enumerate(rows):
        row["split"] = "test" if index < 20 else "train"
    return write_jsonl(tmp_path / "sentiment.jsonl", rows)


def _quick(
    registry, base: Path, dataset: Path, name: str, arch: str = "lora", task: str | None = None, **fields
):
    settings = LoopSettings(epochs=1, learning_rate=1e-2, batch_size=8, max_steps=2)
    return train_adapter(
        registry, TrainRequest(arch, str(base), str(dataset), name, task=task, settings=settings, **fields)
    )


def test_eval_adapter_stores_rows_and_shows_them(registry, cli, tiny_bert: Path, sentiment: Path) -> None:
    _quick(registry, tiny_bert, sentiment, "a")
    result = cli("eval", "a", "--dataset", sentiment, "--split", "test", "--json")
    assert result.exit_code == 0, result.stderr
    scores = result.json()["branches"][0]["scores"]
    assert set(scores) == {"accuracy", "f1_macro", "matthews"} and result.json()["n"] == 20
    rows = [e for e in registry.evaluations(target="a") if not (e.extra or {}).get("after_training")]
    assert {(e.metric, e.split, e.n, e.task, e.device, e.dtype) for e in rows} == {
        (m, "test", 20, "classification", "cpu", "float32") for m in scores
    }
    assert len({e.dataset_fingerprint for e in rows}) == 1 and rows[0].base_model == str(tiny_bert)
    assert all(e.adapter_id == registry.get_adapter("a").id for e in rows)
    shown = cli("show", "a")
    assert "accuracy" in shown.stdout and "evaluations" in shown.stdout
    table = cli("evals", "--target", "a")
    assert "accuracy" in table.stdout and "f1_macro" in table.stdout
    only = cli(
        "eval",
        "a",
        "--dataset",
        sentiment,
        "--split",
        "test",
        "--metric",
        "accuracy",
        "--limit",
        "5",
        "--json",
    )
    assert only.json()["branches"][0]["scores"].keys() == {"accuracy"} and only.json()["n"] == 5


def test_scores_equal_a_hand_computation(registry, tiny_bert: Path, sentiment: Path) -> None:
    """The stored accuracy is the share of rows whose argmax is the row's label, by name."""
    from hubcli.engine import load
    from hubcli.engine.loading import load_tokenizer
    from hubcli.services.evaluating import EvalRequest, evaluate

    _quick(registry, tiny_bert, sentiment, "a")
    result = evaluate(registry, EvalRequest("a", str(sentiment), split="test"))
    rows = data.load(str(sentiment), "test").rows
    tokenizer = load_tokenizer(str(tiny_bert))
    model = load(str(tiny_bert), ["a"], registry=registry)
    encoded = tokenizer([r["text"] for r in rows], padding=True, return_tensors="pt")
    predicted = (
        model.forward(
            encoded["input_ids"], encoded["attention_mask"], token_type_ids=encoded["token_type_ids"]
        )["logits"]
        .argmax(-1)
        .tolist()
    )
    labels = registry.get_adapter("a").labels
    right = sum(labels[p] == r["label"] for p, r in zip(predicted, rows, strict=True))
    assert result.branches[0].scores["accuracy"] == pytest.approx(right / len(rows))


def test_label_mismatch_is_one_clear_line(
    registry, cli, tiny_bert: Path, sentiment: Path, tmp_path: Path
) -> None:
    _quick(registry, tiny_bert, sentiment, "a")
    other = write_jsonl(tmp_path / "yesno.jsonl", [{"text": "good film", "label": "yes"}])
    result = cli("eval", "a", "--dataset", other)
    assert result.exit_code == 1
    assert "dataset label 'yes' is not one of the head's labels (negative, positive)" in result.stderr


def test_parallel_reports_one_score_per_branch(registry, cli, tiny_bert: Path, sentiment: Path) -> None:
    _quick(registry, tiny_bert, sentiment, "a")
    _quick(registry, tiny_bert, sentiment, "b")
    result = cli("eval", "parallel(a, b)", "--dataset", sentiment, "--split", "test", "--json")
    assert result.exit_code == 0, result.stderr
    branches = result.json()["branches"]
    assert [b["branch"] for b in branches] == ["a", "b"]
    single = cli("eval", "b", "--dataset", sentiment, "--split", "test", "--json").json()["branches"][0][
        "scores"
    ]
    assert branches[1]["scores"] == pytest.approx(single)
    stored = registry.evaluations(target="parallel(a, b)")
    assert {(e.extra or {}).get("branch") for e in stored} == {"a", "b"}
    assert {e.adapter_id for e in stored} == {registry.get_adapter("a").id, registry.get_adapter("b").id}
    listed = cli("evals", "--target", "parallel(a, b)", "--json").json()
    assert {row["branch"] for row in listed} == {"a", "b"}
    assert "› b" in cli("evals").stdout


def test_pair_and_regression_tasks_on_the_bare_base(cli, tiny_bert: Path, tmp_path: Path) -> None:
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"sentence1": "good film", "sentence2": "great show", "label": "same"},
            {"sentence1": "bad plot", "sentence2": "nice day", "label": "different"},
            {"sentence1": "sad film", "sentence2": "dull show", "label": "same"},
        ],
    )
    result = cli("eval", "-", "--dataset", pairs, "--base", tiny_bert, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["task"] == "pair-classification" and result.json()["target"] == "-"
    scores = write_jsonl(
        tmp_path / "scores.jsonl",
        [{"text": t, "score": s} for t, s in [("good film", 4.5), ("bad plot", 1.25), ("fine show", 3.0)]],
    )
    result = cli("eval", "-", "--dataset", scores, "--base", tiny_bert, "--json")
    assert result.json()["task"] == "regression"
    assert set(result.json()["branches"][0]["scores"]) == {"pearson", "spearman", "mse"}
    assert "(base model)" in cli("evals").stdout


def test_token_classification(registry, cli, tiny_bert: Path, tmp_path: Path) -> None:
    rows = entity_rows(40)
    for index, row in enumerate(rows):
        row["split"] = "test" if index < 10 else "train"
    dataset = write_jsonl(tmp_path / "ner.jsonl", rows)
    _quick(registry, tiny_bert, dataset, "ner")  # tag lists: token classification
    assert registry.get_adapter("ner").labels == ["B-LOC", "B-PER", "O"]
    result = cli("eval", "ner", "--dataset", dataset, "--split", "test", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["task"] == "token-classification"
    assert {"entity_f1", "token_accuracy"} <= set(result.json()["branches"][0]["scores"])


def test_causal_lm_perplexity(registry, cli, tiny_bert: Path, tmp_path: Path) -> None:
    gpt2 = write_tiny_gpt2(tmp_path / "tiny-gpt2", tiny_bert)
    rows = [
        {"text": r["text"], "split": "test" if i < 6 else "train"} for i, r in enumerate(sentiment_rows(30))
    ]
    dataset = write_jsonl(tmp_path / "lm.jsonl", rows)
    result = cli(
        "eval", "-", "--dataset", dataset, "--split", "test", "--base", gpt2, "--task", "causal-lm", "--json"
    )
    assert result.exit_code == 0, result.stderr
    scores = result.json()["branches"][0]["scores"]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(gpt2), AutoModelForCausalLM.from_pretrained(gpt2).eval()
    nll = tokens = 0.0
    for row in rows[:6]:
        ids = tokenizer(row["text"], return_tensors="pt")["input_ids"]
        with torch.no_grad():
            loss = model(input_ids=ids, labels=ids).loss
        nll, tokens = nll + float(loss) * (ids.shape[1] - 1), tokens + ids.shape[1] - 1
    assert scores["perplexity"] == pytest.approx(math.exp(nll / tokens), rel=1e-4)
    _quick(registry, gpt2, dataset, "lm-lora", task="causal-lm")
    trained = cli("eval", "lm-lora", "--dataset", dataset, "--split", "test", "--json")
    assert trained.exit_code == 0 and "perplexity" in trained.json()["branches"][0]["scores"]


def test_formats_and_fingerprints(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"text": "good", "label": "positive", "split": "test"},
        {"text": "bad", "label": "negative", "split": "train"},
    ]
    with (tmp_path / "d.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    write_jsonl(tmp_path / "d.jsonl", rows)
    (tmp_path / "d.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    for name in ("d.csv", "d.jsonl", "d.json", "d.parquet"):
        loaded = data.load(str(tmp_path / name), "test")
        assert loaded.rows == [rows[0]] and loaded.split == "test"
    test, train = data.load(str(tmp_path / "d.csv"), "test"), data.load(str(tmp_path / "d.csv"), "train")
    assert test.fingerprint(["text", "label"], None) != train.fingerprint(["text", "label"], None)
    assert test.fingerprint(["text", "label"], None) != test.fingerprint(["text", "label"], 1)
    with pytest.raises(data.DatasetError, match="no rows with split = 'dev'"):
        data.load(str(tmp_path / "d.csv"), "dev")
    with pytest.raises(data.DatasetError, match="no such file"):
        data.load(str(tmp_path / "missing.csv"))


def test_missing_column_names_the_columns(cli, tiny_bert: Path, tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "odd.jsonl", [{"body": "good", "label": "positive"}])
    result = cli("eval", "-", "--dataset", dataset, "--base", tiny_bert, "--task", "classification")
    assert result.exit_code == 1 and "no text column" in result.stderr and "body, label" in result.stderr


def test_a_folder_of_splits_through_datasets(
    registry, cli, tiny_bert: Path, tmp_path: Path, monkeypatch
) -> None:
    """A folder (or Hub id) goes through `datasets`; ClassLabel integers are matched by name."""
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
    )
    folder = tmp_path / "sentiment"
    folder.mkdir()
    for split, rows in (("train", sentiment_rows(40, seed=1)), ("test", sentiment_rows(12, seed=2))):
        table = {"text": [r["text"] for r in rows], "label": [int(r["label"] == "positive") for r in rows]}
        datasets.Dataset.from_dict(table, features=features).to_parquet(str(folder / f"{split}.parquet"))
    result = train_adapter(
        registry,
        TrainRequest(
            "lora",
            str(tiny_bert),
            str(folder),
            "from-folder",
            settings=LoopSettings(epochs=1, batch_size=8, max_steps=2),
        ),
    )
    assert registry.get_adapter("from-folder").labels == ["negative", "positive"]
    assert result.final.split == "test" and result.final.n == 12
    evaluated = cli("eval", "from-folder", "--dataset", folder, "--split", "test", "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert evaluated.json()["branches"][0]["scores"] == pytest.approx(result.final.branches[0].scores)
    missing = cli("eval", "from-folder", "--dataset", folder)
    assert missing.exit_code == 1 and "split 'validation'" in missing.stderr

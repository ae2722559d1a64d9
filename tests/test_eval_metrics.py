"""Metric values against hand computations on small fixed prediction sets."""

from __future__ import annotations

import math

import pytest

from hubcli.evaluate import metrics


def test_classification_by_hand() -> None:
    gold = [0, 0, 1, 1, 1, 2]
    predicted = [0, 1, 1, 1, 0, 2]
    scores = metrics.classification(gold, predicted)
    assert scores["accuracy"] == pytest.approx(4 / 6)
    # per class F1: class 0: p=1/2 r=1/2 → 1/2; class 1: p=2/3 r=2/3 → 2/3; class 2: 1
    assert scores["f1_macro"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    # Matthews (multi-class, Gorodkin): c=4 correct, s=6, p_k predicted counts, t_k true counts
    c, s, p, t = 4, 6, [2, 3, 1], [2, 3, 1]
    expected = (c * s - sum(a * b for a, b in zip(p, t, strict=True))) / math.sqrt(
        (s**2 - sum(a * a for a in p)) * (s**2 - sum(b * b for b in t))
    )
    assert scores["matthews"] == pytest.approx(expected)


def test_regression_by_hand() -> None:
    gold = [1.0, 2.0, 3.0, 4.0]
    predicted = [1.5, 1.0, 3.5, 5.0]
    mean_g, mean_p = sum(gold) / 4, sum(predicted) / 4
    cov = sum((g - mean_g) * (p - mean_p) for g, p in zip(gold, predicted, strict=True))
    pearson = cov / math.sqrt(
        sum((g - mean_g) ** 2 for g in gold) * sum((p - mean_p) ** 2 for p in predicted)
    )
    scores = metrics.regression(gold, predicted)
    assert scores["pearson"] == pytest.approx(pearson)
    # ranks of predicted: 2, 1, 3, 4 against 1, 2, 3, 4: d² = 1 + 1 → 1 − 6·2 / (4·15)
    assert scores["spearman"] == pytest.approx(1 - 6 * 2 / (4 * 15))
    assert scores["mse"] == pytest.approx((0.25 + 1 + 0.25 + 1) / 4)
    assert metrics.regression([1.0, 1.0], [0.3, 0.5])["pearson"] == 0.0  # constant gold: undefined → 0


def test_entity_f1_by_hand() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-PER"], ["O", "B-ORG", "O", "O"]]
    # gold entities: PER(0-1), LOC(3), ORG(1-2); predicted: PER(0-1), PER(3), ORG(1-1); one correct
    scores = metrics.token_classification(gold, predicted)
    assert scores["entity_precision"] == pytest.approx(1 / 3)
    assert scores["entity_recall"] == pytest.approx(1 / 3)
    assert scores["entity_f1"] == pytest.approx(1 / 3)
    assert scores["token_accuracy"] == pytest.approx(6 / 8)


def test_chunks_follow_conlleval() -> None:
    assert metrics.entities(["I-PER", "I-PER", "O"]) == {("PER", 0, 1)}  # I after O starts a chunk
    assert metrics.entities(["B-PER", "I-LOC"]) == {("PER", 0, 0), ("LOC", 1, 1)}  # type change
    assert metrics.entities(["B-PER", "B-PER"]) == {("PER", 0, 0), ("PER", 1, 1)}
    assert metrics.entities(["S-LOC", "B-PER", "E-PER"]) == {("LOC", 0, 0), ("PER", 1, 2)}


def test_perplexity_by_hand() -> None:
    scores = metrics.language_model(total_nll=6.0, tokens=3)
    assert scores["loss"] == pytest.approx(2.0)
    assert scores["perplexity"] == pytest.approx(math.exp(2.0))


def test_select_refuses_unknown_metrics() -> None:
    from hubcli.plugin_api import HubcliError

    assert metrics.select({"a": 1.0, "b": 2.0}, ["b"]) == {"b": 2.0}
    with pytest.raises(HubcliError, match="metric 'c' is not computed"):
        metrics.select({"a": 1.0}, ["c"])

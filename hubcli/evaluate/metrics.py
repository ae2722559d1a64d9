"""Task metrics. Classification and regression scores come from scikit-learn and scipy (the
well-kept implementations everyone compares against); entity-level F1 for token classification is
computed here, with the chunking rules of conlleval/seqeval's default mode, so that no package
has to be fetched at run time (the ``evaluate`` package downloads its metric scripts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def classification(gold: Sequence[int], predicted: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "f1_macro": float(f1_score(gold, predicted, average="macro", zero_division=0)),
        "matthews": float(matthews_corrcoef(gold, predicted)),
    }


def regression(gold: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlations (0 when either side is constant, where they are
    undefined) and the mean squared error."""
    from scipy.stats import pearsonr, spearmanr

    constant = len(set(gold)) < 2 or len(set(predicted)) < 2
    mse = sum((g - p) ** 2 for g, p in zip(gold, predicted, strict=True)) / len(gold)
    return {
        "pearson": 0.0 if constant else float(pearsonr(gold, predicted).statistic),
        "spearman": 0.0 if constant else float(spearmanr(gold, predicted).statistic),
        "mse": float(mse),
    }


def _split_tag(tag: str) -> tuple[str, str]:
    """``B-PER`` → (``B``, ``PER``); ``O`` → (``O``, ``""``); a bare type counts as inside."""
    if tag in ("O", ""):
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in ("B", "I", "E", "S"):
        return prefix, kind
    return "I", tag


def entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Chunks ``(type, start, end)`` of one sentence's IOB tags, conlleval's rules: a chunk
    starts at B, at S, or at an I whose type differs from the previous tag's; it ends before O,
    B, S or a type change, and after E or S."""
    found: set[tuple[str, int, int]] = set()
    start: int | None = None
    current = ""
    for index, tag in enumerate([*tags, "O"]):
        prefix, kind = _split_tag(tag)
        if start is not None and (prefix in ("O", "B", "S") or kind != current):
            found.add((current, start, index - 1))
            start = None
        if prefix != "O" and start is None:
            start, current = index, kind
        if prefix in ("E", "S") and start is not None:
            found.add((current, start, index))
            start = None
    return found


def token_classification(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Micro-averaged entity precision, recall and F1 over all sentences (an entity counts only
    when its type and both ends match), and the accuracy over tags."""
    true_total = predicted_total = correct = 0
    tags_right = tags_total = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        gold_set, predicted_set = entities(gold_tags), entities(predicted_tags)
        true_total += len(gold_set)
        predicted_total += len(predicted_set)
        correct += len(gold_set & predicted_set)
        tags_right += sum(g == p for g, p in zip(gold_tags, predicted_tags, strict=True))
        tags_total += len(gold_tags)
    precision = correct / predicted_total if predicted_total else 0.0
    recall = correct / true_total if true_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "entity_f1": f1,
        "entity_precision": precision,
        "entity_recall": recall,
        "token_accuracy": tags_right / tags_total if tags_total else 0.0,
    }


def language_model(total_nll: float, tokens: int) -> dict[str, float]:
    """Perplexity = exp(mean negative log-likelihood per predicted token)."""
    loss = total_nll / tokens
    return {"perplexity": math.exp(loss), "loss": loss}


def select(scores: dict[str, float], wanted: Sequence[str]) -> dict[str, float]:
    """``scores`` restricted to ``wanted`` (all of them when ``wanted`` is empty)."""
    unknown = [name for name in wanted if name not in scores]
    if unknown:
        from hubcli.plugin_api import HubcliError

        raise HubcliError(
            f"metric {unknown[0]!r} is not computed for this task (choose from {', '.join(scores)})"
        )
    return {name: scores[name] for name in wanted} if wanted else scores

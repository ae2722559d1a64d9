"""Training and evaluation rows from one dataset: its named splits, its ``split`` column, or a
seeded holdout (what ``hubcli train`` and ``hubcli train --fuse`` train and evaluate on)."""

from __future__ import annotations

import random

from hubcli.evaluate import data as datasets
from hubcli.plugin_api import HubcliError

EVAL_SPLITS = ("validation", "test", "dev")
HOLDOUT = 0.1


def split_rows(
    source: str, split: str | None, eval_split: str | None, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(training rows, evaluation rows): the named splits of a folder or Hub dataset; by the
    file's ``split`` column when it has one; else a seeded 10 % holdout."""
    if not datasets.is_local_file(source):
        train = datasets.load(source, split or "train")
        for name in [eval_split] if eval_split else EVAL_SPLITS:
            try:
                return train, datasets.load(source, name)
            except datasets.DatasetError:
                continue
        raise HubcliError(f"{source}: no evaluation split ({', '.join(EVAL_SPLITS)}); pass --eval-split")
    whole = datasets.load(source)
    if datasets.SPLIT_COLUMN in whole.rows[0] or split or eval_split:
        train = datasets.load(source, split or "train")
        present = {row.get(datasets.SPLIT_COLUMN) for row in whole.rows}
        chosen = eval_split or next((name for name in EVAL_SPLITS if name in present), None)
        if chosen is None:
            raise HubcliError(
                f"{source}: no evaluation split (none of {', '.join(EVAL_SPLITS)}); pass --eval-split"
            )
        return train, datasets.load(source, chosen)
    rows = list(whole.rows)
    random.Random(seed).shuffle(rows)
    held = max(1, int(len(rows) * HOLDOUT))
    label = f"holdout-{seed}"
    make = datasets.Dataset
    return (
        make(whole.name, f"train-{seed}", rows[held:], whole.source_digest, whole.label_names),
        make(whole.name, label, rows[:held], whole.source_digest, whole.label_names),
    )

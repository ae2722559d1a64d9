"""The registry work behind the TUI's actions, as plain functions run in worker threads.

Kept free of widgets so each can be reasoned about (and tested) on its own; they report
progress through a callback and return a one-line summary, and raise hubcli's or the
registry's typed errors, which the app shows in an error dialog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.compose.spec import Node
from hubcli.compose.text import format_spec
from hubcli.merge.spec import MergeSpec
from registry import Registry, VerifyReport

if TYPE_CHECKING:
    from hubcli.hub.search import HubAdapter
    from hubcli.progress import Progress as HubProgress
    from hubcli.tui.eval_dialog import EvalAnswers

Progress = Callable[[int, int | None, str], None]
"""``progress(done, total, what)``: total None means "unknown" (an indeterminate bar)."""

HUB_RESULTS = 50
CKA_EXAMPLES = 512
CKA_BATCH = 32

MEAN_VIEW = "mean over layers"


@dataclass(frozen=True)
class Similarity:
    """What the similarity screen draws: one matrix per view (rows × columns), under a title.

    Weight distances: adapters × adapters, the mean over layers first, then each layer.
    CKA: the layers of model A × the layers of model B, one view."""

    title: str
    rows: list[str]
    columns: list[str]
    views: dict[str, list[list[float]]]
    scale: tuple[float, float] | None = None
    """A fixed colour scale (CKA lies in 0–1); None: each matrix's own range."""


def add_from_disk(registry: Registry, path: Path, name: str | None, progress: Progress) -> str:
    """Import the adapter in ``path``, or every adapter of its sub-folders (like ``add --all``)."""
    from hubcli.importer import adapter_subfolders, import_adapter
    from hubcli.plugin_api import AdapterFolder, AdapterFormatError

    root = AdapterFolder(Path(path).expanduser())
    found = adapter_subfolders(root)
    if not found:
        raise AdapterFormatError(f"{path}: no adapter_config.json here or in a sub-folder")
    if len(found) > 1 and name:
        raise AdapterFormatError(
            f"{path}: holds {len(found)} adapters; leave the name empty to import them all"
        )
    messages = []
    for done, sub in enumerate(found):
        progress(done, len(found), f"importing {sub or root.root.name}")
        folder = root.sub(sub) if sub else root
        outcome = import_adapter(registry, folder, name=name or sub or None)
        messages.append(outcome.message)
        messages.extend(f"warning: {warning}" for warning in outcome.warnings)
    progress(len(found), len(found), "done")
    return "; ".join(messages)


def remove(registry: Registry, name: str, progress: Progress) -> str:
    progress(0, None, f"removing {name}")
    freed = registry.remove_adapter(name)
    return f"removed {name!r} ({freed} unused file{'s' if freed != 1 else ''} freed)"


def retag(
    registry: Registry, name: str, add: Iterable[str], remove: Iterable[str], progress: Progress
) -> str:
    progress(0, None, f"tagging {name}")
    tags = registry.set_tags(name, add=add, remove=remove)
    return f"{name}: tags {', '.join(tags) if tags else '(none)'}"


def verify(registry: Registry, progress: Progress) -> VerifyReport:
    progress(0, None, "re-hashing every stored file")
    return registry.verify()


def verify_summary(report: VerifyReport) -> str:
    cleaned = report.cleanup
    parts = [f"checked {report.checked} file{'s' if report.checked != 1 else ''}"]
    if report.missing:
        parts.append(f"{len(report.missing)} missing")
    if report.corrupt:
        parts.append(f"{len(report.corrupt)} corrupt")
    removed = cleaned.temporary_files + cleaned.staging_folders + cleaned.orphan_blobs
    if removed:
        parts.append(f"{removed} leftover{'s' if removed != 1 else ''} cleaned up")
    return ", ".join(parts)


def _hub_progress(progress: Progress) -> Callable[[HubProgress], None]:
    """Adapt the Hub's progress events (bytes per stage) to the jobs panel's callback."""

    def forward(event: HubProgress) -> None:
        what = f"{event.stage} {event.detail}".strip()
        progress(event.done, event.total or None, what)

    return forward


def pull_from_hub(
    registry: Registry, repo: str, revision: str | None, name: str | None, every: bool, progress: Progress
) -> str:
    """``hubcli pull``: download ``repo`` and register its adapter(s)."""
    from hubcli.hub.pull import pull

    report = pull(
        registry, repo, revision=revision, name=name, all_=every, on_progress=_hub_progress(progress)
    )
    names = ", ".join(repr(item.outcome.adapter.name) for item in report.adapters)
    if report.up_to_date:
        return f"{report.ref.label}: up to date ({names})"
    return f"pulled {report.ref.label} @ {report.commit[:8]} as {names}"


def push_to_hub(
    registry: Registry, name: str, repo: str, revision: str | None, private: bool, progress: Progress
) -> str:
    """``hubcli push``: upload adapter ``name`` (in its stored format) to ``repo``."""
    from hubcli.hub.push import push

    report = push(
        registry, name, repo, revision=revision, private=private, on_progress=_hub_progress(progress)
    )
    where = f"{report.repo_id}@{report.revision}"
    if report.up_to_date:
        return f"{name}: up to date with {where}, nothing pushed"
    return f"pushed {name} to {where} ({len(report.files)} files, commit {report.commit[:8]})"


def save_recipe(registry: Registry, name: str, base: str, tree: Node, progress: Progress) -> str:
    """``hubcli stitch BASE SPEC --save NAME``: the same check against the registry, the same save."""
    from hubcli.cli.stitch import checked
    from hubcli.cli.stitch import save_recipe as save

    progress(0, None, f"saving recipe {name}")
    checked(registry, tree)
    save(registry, name, base, tree)
    return f"saved recipe {name!r}: {base} + {format_spec(tree)}"


def evaluate(registry: Registry, target: str, answers: EvalAnswers, progress: Progress) -> str:
    """``hubcli eval TARGET …``: score on the dataset and store one Evaluation row per metric.

    Cancelling stops between batches, before anything is stored."""
    from hubcli.engine.loading import quiet_transformers
    from hubcli.evaluate.pipeline import EvalRequest, evaluate_target

    progress(0, None, "loading the model and the data")
    rows = {"done": 0, "total": 0}

    def started(total: int) -> None:
        rows["total"] = total
        progress(0, total, "scoring rows")

    def batch(count: int) -> None:
        rows["done"] += count
        progress(rows["done"], rows["total"], "scoring rows")

    request = EvalRequest(target=target, **asdict(answers))
    with quiet_transformers():
        result = evaluate_target(registry, request, on_start=started, on_batch=batch)
    scores = "; ".join(
        (f"{b.name}: " if b.name else "") + ", ".join(f"{k} {v:.4f}" for k, v in b.scores.items())
        for b in result.branches
    )
    return f"{target} on {Path(result.dataset).name} (n={result.n}): {scores}"


def merge(registry: Registry, name: str, sources: list[str], spec: MergeSpec, progress: Progress) -> str:
    """``hubcli merge SOURCES … --name NAME``: register the merge of ``sources`` as ``name``."""
    from hubcli.merge.pipeline import merge_adapters

    progress(0, None, f"merging {', '.join(sources)}")
    outcome = merge_adapters(registry, name, sources, spec)
    return f"registered {name!r}: {outcome.report['description']}"


def compare(registry: Registry, names: list[str], metric: str, progress: Progress) -> Similarity:
    """``hubcli compare NAMES --metric M``: distance matrices, the mean and one per layer."""
    from hubcli.analysis.modules import registry_weights
    from hubcli.analysis.weights import distances

    weights = []
    for done, name in enumerate(names):
        progress(done, len(names) + 1, f"reading {name}")
        weights.append(registry_weights(registry, name))
    progress(len(names), len(names) + 1, "computing distances")
    report = distances(weights, metric=metric)
    views = {MEAN_VIEW: report.mean().tolist()}
    views.update({layer: matrix.tolist() for layer, matrix in report.per_layer().items()})
    return Similarity(f"{metric} distance · {len(report.rows)} adapters", report.rows, report.columns, views)


def compare_cka(
    registry: Registry, base: str, model_a: str, model_b: str, dataset: Path, progress: Progress
) -> Similarity:
    """``hubcli compare --cka BASE A B --dataset D``: linear CKA between every hidden state of
    model A and every one of model B (each "base" or adapter names joined by '+')."""
    from hubcli.analysis.inputs import batches, read_token_ids
    from hubcli.analysis.representations import layer_label, layerwise_cka
    from hubcli.engine import load

    def model(spec: str) -> Any:
        if spec == "base":
            return load(base).model
        return load(base, adapters=spec.split("+"), registry=registry).model

    progress(0, None, "reading the dataset and loading both models")
    examples = read_token_ids(Path(dataset), tokenizer_source=base, limit=CKA_EXAMPLES)
    first, second = model(model_a), model(model_b)
    done = [0]

    def batch(count: int) -> None:
        done[0] += count
        progress(done[0], len(examples), "running both models")

    pad_id = getattr(first.config, "pad_token_id", None) or 0
    result = layerwise_cka(first, second, batches(examples, CKA_BATCH, pad_id), on_batch=batch)
    rows = [f"{model_a} {layer_label(i)}" for i in result.layers_a]
    columns = [f"{model_b} {layer_label(i)}" for i in result.layers_b]
    title = f"linear CKA · {model_a} (rows) vs {model_b} (columns) · {result.examples} examples"
    return Similarity(title, rows, columns, {"every layer pair": result.matrix.tolist()}, scale=(0.0, 1.0))


def search_hub(query: str, library: str | None) -> list[HubAdapter]:
    """``hubcli search QUERY [--library L]`` (endpoint and token from the environment)."""
    from hubcli.hub.search import search

    return search(query or None, library=library, limit=HUB_RESULTS)


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int | None


def hub_files(repo_id: str) -> list[HubFile]:
    """The files of ``repo_id`` on its default branch, with sizes."""
    from huggingface_hub import HfApi

    from hubcli.hub import settings
    from hubcli.hub.errors import hub_errors

    url = settings.endpoint()
    with hub_errors(repo_id, None, url):
        info = HfApi(endpoint=url).model_info(repo_id, files_metadata=True)
    return [HubFile(s.rfilename, s.size) for s in info.siblings or []]

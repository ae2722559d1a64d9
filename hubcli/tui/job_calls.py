"""What each of the TUI's background jobs runs: one ``hubcli.services`` call, adapted to a job.

A job function takes the registry, the dialog's answers and the jobs panel's progress
callback, calls the same service as the CLI command, and returns the job's one-line summary
(or what its screen draws). Failures are the services' typed errors, which the app shows in an
error dialog. ``hubcli.tui.jobs`` is the panel that lists the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from hubcli.compose.spec import Node
from hubcli.compose.text import format_spec
from hubcli.merge.spec import MergeSpec
from hubcli.tui.similarity import MEAN_VIEW, Similarity
from registry import Registry, VerifyReport

if TYPE_CHECKING:
    from hubcli.progress import Progress
    from hubcli.services.adding import AddRequest
    from hubcli.services.pulling import PullRequest
    from hubcli.services.pushing import PushRequest
    from hubcli.tui.eval_dialog import EvalAnswers

JobProgress = Callable[[int, int | None, str], None]
"""``progress(done, total, what)``: total None means "unknown" (an indeterminate bar)."""


def job_progress(progress: JobProgress) -> Callable[[Progress], None]:
    """A service's progress events as the jobs panel's rows (stage and detail as the message)."""

    def forward(event: Progress) -> None:
        progress(event.done, event.total or None, f"{event.stage} {event.detail}".strip())

    return forward


def add_from_disk(registry: Registry, request: AddRequest, progress: JobProgress) -> str:
    """``hubcli add``: the adapter(s) of a folder or an archive."""
    from hubcli.services.adding import add

    result = add(registry, request, job_progress(progress))
    messages = []
    for outcome in result.outcomes:
        messages.append(outcome.message)
        messages.extend(f"warning: {warning}" for warning in outcome.warnings)
    return "; ".join(messages)


def remove(registry: Registry, name: str, progress: JobProgress) -> str:
    from hubcli.services.removing import RemoveRequest
    from hubcli.services.removing import remove as remove_adapters

    freed = remove_adapters(registry, RemoveRequest((name,)), job_progress(progress)).freed[name]
    return f"removed {name!r} ({freed} unused file{'s' if freed != 1 else ''} freed)"


def retag(
    registry: Registry, name: str, add: Iterable[str], remove: Iterable[str], progress: JobProgress
) -> str:
    from hubcli.services.tagging import TagRequest, tag

    result = tag(registry, TagRequest(name, tuple(add), tuple(remove)), job_progress(progress))
    return f"{name}: tags {', '.join(result.tags) if result.tags else '(none)'}"


def verify(registry: Registry, progress: JobProgress) -> VerifyReport:
    from hubcli.services.verifying import verify as verify_store

    return verify_store(registry, job_progress(progress))


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


def pull_from_hub(registry: Registry, request: PullRequest, progress: JobProgress) -> str:
    """``hubcli pull``: download the repository and register its adapter(s)."""
    from hubcli.services.pulling import pull

    report = pull(registry, request, job_progress(progress))
    names = ", ".join(repr(item.outcome.adapter.name) for item in report.adapters)
    if report.up_to_date:
        return f"{report.ref.label}: up to date ({names})"
    return f"pulled {report.ref.label} @ {report.commit[:8]} as {names}"


def push_to_hub(registry: Registry, request: PushRequest, progress: JobProgress) -> str:
    """``hubcli push``: upload the adapter (in its stored format)."""
    from hubcli.services.pushing import push

    report = push(registry, request, job_progress(progress))
    where = f"{report.repo_id}@{report.revision}"
    if report.up_to_date:
        return f"{request.name}: up to date with {where}, nothing pushed"
    return f"pushed {request.name} to {where} ({len(report.files)} files, commit {report.commit[:8]})"


def save_recipe(registry: Registry, name: str, base: str, tree: Node, progress: JobProgress) -> str:
    """``hubcli stitch BASE SPEC --save NAME``: the same check against the registry, the same save."""
    from hubcli.services.stitching import checked
    from hubcli.services.stitching import save_recipe as save

    progress(0, None, f"saving recipe {name}")
    checked(registry, tree)
    save(registry, name, base, tree)
    return f"saved recipe {name!r}: {base} + {format_spec(tree)}"


def evaluate(registry: Registry, target: str, answers: EvalAnswers, progress: JobProgress) -> str:
    """``hubcli eval TARGET …``: score on the dataset and store one Evaluation row per metric.

    Cancelling stops between batches, before anything is stored."""
    from hubcli.engine.loading import quiet_transformers
    from hubcli.services.evaluating import EvalRequest
    from hubcli.services.evaluating import evaluate as evaluate_target

    request = EvalRequest(target=target, **asdict(answers))
    with quiet_transformers():
        result = evaluate_target(registry, request, job_progress(progress))
    scores = "; ".join(
        (f"{b.name}: " if b.name else "") + ", ".join(f"{k} {v:.4f}" for k, v in b.scores.items())
        for b in result.branches
    )
    return f"{target} on {Path(result.dataset).name} (n={result.n}): {scores}"


def merge(registry: Registry, name: str, sources: list[str], spec: MergeSpec, progress: JobProgress) -> str:
    """``hubcli merge SOURCES … --name NAME``: register the merge of ``sources`` as ``name``."""
    from hubcli.services.merging import merge_adapters

    outcome = merge_adapters(registry, name, sources, spec, job_progress(progress))
    return f"registered {name!r}: {outcome.report['description']}"


def compare(registry: Registry, names: list[str], metric: str, progress: JobProgress) -> Similarity:
    """``hubcli compare NAMES --metric M``: distance matrices, the mean and one per layer."""
    from hubcli.services.comparing import CompareRequest
    from hubcli.services.comparing import compare as compare_adapters

    report = compare_adapters(registry, CompareRequest(names, metric), job_progress(progress)).report
    views = {MEAN_VIEW: report.mean().tolist()}
    views.update({layer: matrix.tolist() for layer, matrix in report.per_layer().items()})
    return Similarity(f"{metric} distance · {len(report.rows)} adapters", report.rows, report.columns, views)


def compare_cka(
    registry: Registry, base: str, model_a: str, model_b: str, dataset: Path, progress: JobProgress
) -> Similarity:
    """``hubcli compare --cka BASE A B --dataset D``: linear CKA between every hidden state of
    model A and every one of model B (each "base" or adapter names joined by '+')."""
    from hubcli.analysis.representations import layer_label
    from hubcli.services.comparing import CkaRequest, cka

    result = cka(registry, CkaRequest(base, model_a, model_b, dataset), job_progress(progress))
    rows = [f"{model_a} {layer_label(i)}" for i in result.layers_a]
    columns = [f"{model_b} {layer_label(i)}" for i in result.layers_b]
    title = f"linear CKA · {model_a} (rows) vs {model_b} (columns) · {result.examples} examples"
    return Similarity(title, rows, columns, {"every layer pair": result.matrix.tolist()}, scale=(0.0, 1.0))

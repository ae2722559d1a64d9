"""The actions that change the registry, and the jobs that run them.

Each action asks its questions in a dialog, then runs a ``job_calls`` function in a thread worker
listed in the jobs panel. When a job ends the app gets ``JobFinished``; ``HubcliApp`` refreshes
its views on it. Kept apart from the layout and browsing code of ``HubcliApp``, its subclass.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import count
from pathlib import Path
from time import monotonic
from typing import Any

from textual.app import App
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from hubcli.secrets import redact
from hubcli.services.adding import AddRequest
from hubcli.services.pulling import PullRequest
from hubcli.services.pushing import PushRequest
from hubcli.tui import job_calls
from hubcli.tui.adapter_table import AdapterTable
from hubcli.tui.add_dialog import AddDialog
from hubcli.tui.analysis_dialogs import CompareDialog, CompareRequest, MergeDialog, MergeRequest
from hubcli.tui.composer import ComposerDialog, RecipeRequest
from hubcli.tui.dialogs import ConfirmDialog, MessageDialog, TagChange, TagDialog, error_dialog
from hubcli.tui.eval_dialog import EvalAnswers, EvalDialog
from hubcli.tui.hub_dialogs import PullDialog, PushDialog
from hubcli.tui.hub_screen import HubScreen
from hubcli.tui.jobs import Job, JobCancelled, JobsPanel
from hubcli.tui.similarity import Similarity, SimilarityScreen
from registry import Registry, VerifyReport

PROGRESS_INTERVAL_S = 0.1


class JobFinished(Message):
    """A job ended (done, failed or cancelled)."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job


class RegistryActions(App[None]):
    """Add, remove, tag, verify, pull, push, stitch recipes, eval, merge, compare and the Hub
    screen, for an app with an ``AdapterTable`` and a ``JobsPanel``."""

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry
        self.jobs: list[Job] = []
        self._job_ids = count(1)

    @property
    def main(self) -> Screen:
        """The browse screen. Queried by name because a job may end while a dialog or the Hub
        screen is on top, and ``App.query_one`` only searches the top screen."""
        return self.screen_stack[0]

    @property
    def table(self) -> AdapterTable:
        return self.main.query_one(AdapterTable)

    # -- jobs ------------------------------------------------------------------------------

    def start_job(
        self,
        title: str,
        work: Callable[[job_calls.JobProgress], Any],
        on_result: Callable[[Any], str] | None = None,
    ) -> Job:
        """Run ``work(progress)`` in a thread worker, listed in the jobs panel.

        ``progress`` may be called from any thread (Hub downloads report from their own pool);
        it raises ``JobCancelled`` once the user cancelled, and forwards at most one update per
        ``PROGRESS_INTERVAL_S`` to the screen, besides the last of each stage. ``on_result``
        takes the result on the UI thread and returns the job's message (default: ``str``).
        """
        job = Job(next(self._job_ids), title, on_result=on_result)
        last_update = [0.0]

        def progress(done: int, total: int | None, what: str) -> None:
            if job.worker is not None and job.worker.is_cancelled:
                raise JobCancelled
            now = monotonic()
            if what == job.message and done != total and now - last_update[0] < PROGRESS_INTERVAL_S:
                return
            last_update[0] = now
            self.call_from_thread(self._job_progress, job, done, total, what)

        self.jobs.append(job)
        self.main.query_one(JobsPanel).add_job(job)
        job.worker = self.run_worker(
            partial(work, progress), thread=True, group="jobs", exit_on_error=False, description=title
        )
        return job

    def _job_progress(self, job: Job, done: int, total: int | None, what: str) -> None:
        job.done, job.total, job.message = done, total, what
        self.main.query_one(JobsPanel).refresh_job(job)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Jobs end here; any other worker's failure (a query, say) becomes an error dialog."""
        job = next((j for j in self.jobs if j.worker is event.worker), None)
        if job is not None:
            self._job_changed(job, event.worker, event.state)
        elif event.state == WorkerState.ERROR and event.worker.error is not None:
            self.push_screen(error_dialog(event.worker.error))

    def _job_changed(self, job: Job, worker: Worker, state: WorkerState) -> None:
        """React to ``state`` as reported by the event: ``worker.state`` may already be further
        along (a quick job has finished before its RUNNING event is handled)."""
        if state == WorkerState.SUCCESS:
            result = worker.result
            job.state = "done"
            if job.on_result is not None:
                job.message = job.on_result(result)
            elif isinstance(result, VerifyReport):
                job.message = job_calls.verify_summary(result)
            else:
                job.message = str(result)
            if isinstance(result, VerifyReport) and not result.ok:
                problems = [f"missing {sha}" for sha in result.missing] + [
                    f"corrupt {sha}" for sha in result.corrupt
                ]
                self.push_screen(
                    MessageDialog("Verify found problems", "\n".join([job.message, *problems]), error=True)
                )
            else:
                self.notify(job.message, title=job.title, markup=False)
        elif state == WorkerState.ERROR:
            cancelled = isinstance(worker.error, JobCancelled)
            job.state = "cancelled" if cancelled else "failed"
            job.message = (
                "cancelled" if cancelled else redact(getattr(worker.error, "message", str(worker.error)))
            )
            if not cancelled and worker.error is not None:
                self.push_screen(error_dialog(worker.error))
        elif state == WorkerState.CANCELLED:
            job.state, job.message = "cancelled", "cancelled"
        else:
            return
        self.main.query_one(JobsPanel).refresh_job(job)
        self.post_message(JobFinished(job))

    # -- actions ---------------------------------------------------------------------------

    def action_add(self) -> None:
        def added(request: AddRequest | None) -> None:
            if request is not None:
                self.start_job(
                    f"add {request.path.name}",
                    partial(job_calls.add_from_disk, self.registry, request),
                )

        self.push_screen(AddDialog(Path.cwd()), added)

    def action_remove(self) -> None:
        adapter = self.table.selected
        if adapter is None:
            return
        name = adapter.name

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.start_job(f"rm {name}", partial(job_calls.remove, self.registry, name))

        self.push_screen(
            ConfirmDialog("Remove adapter", f"Remove {name!r} and the files only it uses?", confirm="Remove"),
            confirmed,
        )

    def action_tag(self) -> None:
        adapter = self.table.selected
        if adapter is None:
            return
        name = adapter.name

        def changed(change: TagChange | None) -> None:
            if change is not None:
                self.start_job(
                    f"tag {name}", partial(job_calls.retag, self.registry, name, change.add, change.remove)
                )

        self.push_screen(TagDialog(name, self.registry.tags(adapter)), changed)

    def action_pull(self) -> None:
        def answered(request: PullRequest | None) -> None:
            if request is not None:
                self.start_pull(request)

        self.push_screen(PullDialog(), answered)

    def start_pull(self, request: PullRequest) -> None:
        self.start_job(f"pull {request.repo}", partial(job_calls.pull_from_hub, self.registry, request))

    def action_hub(self) -> None:
        self.push_screen(HubScreen())

    def on_hub_screen_pull_asked(self, event: HubScreen.PullAsked) -> None:
        self.start_pull(PullRequest(event.repo_id))

    def action_push(self) -> None:
        adapter = self.table.selected
        if adapter is None:
            return
        name = adapter.name

        def answered(request: PushRequest | None) -> None:
            if request is not None:
                self.start_job(f"push {name}", partial(job_calls.push_to_hub, self.registry, request))

        self.push_screen(PushDialog(name, adapter.format), answered)

    def action_stitch(self) -> None:
        def answered(request: RecipeRequest | None) -> None:
            if request is not None:
                self.start_job(
                    f"recipe {request.name}",
                    partial(job_calls.save_recipe, self.registry, request.name, request.base, request.tree),
                )

        self.push_screen(ComposerDialog(self.registry), answered)

    def action_eval(self) -> None:
        adapter = self.table.selected
        if adapter is None:
            return
        name = adapter.name

        def answered(answers: EvalAnswers | None) -> None:
            if answers is not None:
                self.start_job(f"eval {name}", partial(job_calls.evaluate, self.registry, name, answers))

        self.push_screen(EvalDialog(name), answered)

    def _selected_name(self) -> str | None:
        adapter = self.table.selected
        return adapter.name if adapter is not None else None

    def action_merge(self) -> None:
        def answered(request: MergeRequest | None) -> None:
            if request is not None:
                self.start_job(
                    f"merge {request.name}",
                    partial(job_calls.merge, self.registry, request.name, request.sources, request.spec),
                )

        self.push_screen(MergeDialog(self.registry, self._selected_name()), answered)

    def action_compare(self) -> None:
        def answered(request: CompareRequest | None) -> None:
            if request is None:
                return
            if request.cka is None:
                work = partial(job_calls.compare, self.registry, request.names, request.metric)
            else:
                model_a, model_b = request.cka.models(request.names)
                work = partial(
                    job_calls.compare_cka,
                    self.registry,
                    request.cka.base,
                    model_a,
                    model_b,
                    request.cka.dataset,
                )
            self.start_job(f"compare {', '.join(request.names)}", work, on_result=self._show_similarity)

        self.push_screen(CompareDialog(self.registry, self._selected_name()), answered)

    def _show_similarity(self, similarity: Similarity) -> str:
        self.push_screen(SimilarityScreen(similarity))
        return similarity.title

    def action_verify(self) -> None:
        self.start_job("verify", partial(job_calls.verify, self.registry))

"""Jobs: registry work running in thread workers, listed with progress in the jobs panel.

Job functions (``hubcli.tui.job_calls``) report progress through a callback; the callback is
also where cancellation takes effect, between steps, because a Python thread cannot be
interrupted from outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.worker import Worker

BAR_WIDTH = 12
JOBS_BINDING_IDS = ("cancel_job",)


class JobCancelled(Exception):
    """Raised inside a job's thread at its next progress report after the user cancelled it."""


@dataclass
class Job:
    """One job's record; ``state`` is running, done, failed or cancelled."""

    id: int
    title: str
    worker: Worker | None = None
    state: str = "running"
    done: int = 0
    total: int | None = None
    message: str = ""
    on_result: Callable[[Any], str] | None = None
    """What the app does with the work's result (e.g. open a screen); returns the job's message."""

    def bar(self) -> str:
        if self.state == "done":
            return "█" * BAR_WIDTH
        if not self.total:
            return "░" * BAR_WIDTH if self.state != "running" else "▒" * BAR_WIDTH
        filled = round(BAR_WIDTH * self.done / self.total)
        amount = f"{self.done}/{self.total}" if self.total <= 1000 else f"{100 * self.done // self.total}%"
        return "█" * filled + "░" * (BAR_WIDTH - filled) + f" {amount}"


STATE_STYLE = {"running": "yellow", "done": "green", "failed": "red", "cancelled": "dim"}


class JobsPanel(DataTable):
    """The jobs of this session, newest last."""

    HELP: ClassVar[str] = """\
## Jobs

Work started from the dialogs (add, remove, tag, verify, pull, push, recipes, eval, merge,
compare) runs in the background and is listed
here with its progress and outcome; failures also open an error dialog.

- **c**: cancel the highlighted job (it stops at its next step).
"""

    BINDINGS: ClassVar[list[Binding]] = [Binding("c", "cancel_job", "Cancel job", id="cancel_job")]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.jobs: dict[str, Job] = {}

    def on_mount(self) -> None:
        self.border_title = "Jobs"
        self.add_column("Job", key="title")
        self.add_column("Progress", key="progress")
        self.add_column("State", key="state")
        self.add_column("Message", key="message")

    def add_job(self, job: Job) -> None:
        key = str(job.id)
        self.jobs[key] = job
        self.add_row(job.title, job.bar(), self._state(job), job.message, key=key)
        self.move_cursor(row=self.row_count - 1)

    def refresh_job(self, job: Job) -> None:
        key = str(job.id)
        self.update_cell(key, "progress", job.bar())
        self.update_cell(key, "state", self._state(job))
        self.update_cell(key, "message", job.message, update_width=True)

    @staticmethod
    def _state(job: Job) -> Text:
        return Text(job.state, style=STATE_STYLE[job.state])

    def action_cancel_job(self) -> None:
        if not self.row_count:
            return
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        job = self.jobs.get(key or "")
        if job is None or job.state != "running" or job.worker is None:
            self.notify("No running job selected.", severity="warning")
            return
        job.worker.cancel()

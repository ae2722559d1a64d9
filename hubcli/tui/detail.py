"""The detail area: tabs with everything the registry knows about the selected adapter.

Loading reads several tables and possibly two stored files (config, model card), so it runs
in a worker each time the selection changes; a result for an adapter that is no longer
selected is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Markdown, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from hubcli.formatting import architecture_label, human_count, human_size
from registry import Adapter, AdapterFile, Evaluation, Registry, Remote

MAX_TEXT_BYTES = 1024 * 1024
NO_SELECTION = "No adapter selected."


@dataclass(frozen=True)
class AdapterDetails:
    adapter: Adapter
    tags: list[str]
    files: list[AdapterFile]
    evaluations: list[Evaluation]
    remotes: list[Remote]
    config_json: str
    card: str | None


def _stored_text(registry: Registry, file: AdapterFile) -> str | None:
    if file.size > MAX_TEXT_BYTES:
        return None
    try:
        return registry.file_path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def load_details(registry: Registry, name: str) -> AdapterDetails:
    """Everything the tabs show; the config is the stored file verbatim when it is readable."""
    adapter = registry.get_adapter(name)
    files = registry.files(adapter)
    by_role = {file.role: file for file in files}
    config_text = _stored_text(registry, by_role["config"]) if "config" in by_role else None
    try:
        config_json = json.dumps(json.loads(config_text), indent=2) if config_text else ""
    except ValueError:
        config_json = config_text or ""
    return AdapterDetails(
        adapter=adapter,
        tags=registry.tags(adapter),
        files=files,
        evaluations=registry.evaluations(adapter=adapter),
        remotes=registry.remotes(adapter),
        config_json=config_json or json.dumps(adapter.method_config, indent=2),
        card=_stored_text(registry, by_role["card"]) if "card" in by_role else None,
    )


def overview(details: AdapterDetails) -> RenderableType:
    a = details.adapter
    facts: list[tuple[str, Any]] = [
        ("Name", a.name),
        ("Architecture", architecture_label(a.architecture, a.variant)),
        ("Format", a.format),
        ("Base model", a.base_model),
        ("Model type", a.model_type),
        ("Hidden size", a.hidden_size),
        ("Task", a.task),
        ("Labels", ", ".join(a.labels) if a.labels else None),
        ("Parameters", f"{human_count(a.num_parameters)} ({a.num_parameters:,})"),
        ("Size", human_size(a.size_bytes)),
        ("Tags", ", ".join(details.tags)),
        ("Source", f"{a.source_kind}: {a.source}"),
        ("Revision", " @ ".join(x for x in (a.source_revision, a.source_commit) if x)),
        ("License", a.license),
        ("Digest", a.digest),
        ("Added", a.created_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("Pushed to", ", ".join(f"{r.repo_id}@{r.revision}" for r in details.remotes)),
        ("Description", a.description),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in facts:
        if value not in (None, ""):
            grid.add_row(label, Text(str(value)))
    return grid


def evaluation_bars(evaluations: list[Evaluation], width: int = 30) -> RenderableType:
    """One bar per dataset/split/metric (the latest run wins), scaled to 0–1 when every value
    is a fraction (accuracy, F1 …), else to the largest magnitude."""
    latest = {(e.dataset, e.split or "-", e.metric): e.value for e in evaluations}
    if not latest:
        return Text("No evaluations stored for this adapter.", style="dim")
    fractions = all(0 <= value <= 1 for value in latest.values())
    scale = 1.0 if fractions else max(abs(value) for value in latest.values()) or 1.0
    grid = Table.grid(padding=(0, 1))
    for (dataset, split, metric), value in latest.items():
        filled = round(width * abs(value) / scale)
        bar = Text("█" * filled, style="green") + Text("░" * (width - filled), style="dim")
        grid.add_row(f"{dataset} ({split}) {metric}", bar, f"{value:.4g}")
    return grid


class AdapterDetail(Vertical):
    HELP: ClassVar[str] = """\
## Detail

The selected adapter, in tabs: **Overview**, **Config** (the stored config file),
**Files** (path, role, size, sha256), **Evaluations** (table and bars), **Model card**.
Switch tabs with **Left/Right** when the tab bar is focused, or click them.
"""

    def __init__(self, registry: Registry, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.registry = registry
        self.shown: str | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(id="detail-tabs"):
            with TabPane("Overview", id="tab-overview"), VerticalScroll():
                yield Static(NO_SELECTION, id="overview")
            with TabPane("Config", id="tab-config"), VerticalScroll():
                yield Static("", id="config")
            with TabPane("Files", id="tab-files"):
                yield DataTable(id="files", cursor_type="row")
            with TabPane("Evaluations", id="tab-evaluations"), VerticalScroll():
                yield DataTable(id="evaluations", cursor_type="row")
                yield Static("", id="evaluation-bars")
            with TabPane("Model card", id="tab-card"), VerticalScroll():
                yield Markdown("", id="card")

    DEFAULT_CSS = """
    AdapterDetail #evaluations { height: auto; max-height: 12; margin-bottom: 1; }
    """

    def on_mount(self) -> None:
        self.border_title = "Detail"
        self.query_one("#files", DataTable).add_columns("Path", "Role", "Size", "sha256")
        self.query_one("#evaluations", DataTable).add_columns(
            "Dataset", "Split", "Metric", "Value", "n", "When"
        )

    def show(self, name: str | None) -> None:
        """Load and show ``name`` (None clears the tabs)."""
        self.shown = name
        if name is None:
            self._clear()
            return
        self.run_worker(
            lambda: load_details(self.registry, name),
            thread=True,
            group="adapter-detail",
            exclusive=True,
            exit_on_error=False,
            description=f"load {name}",
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "adapter-detail" or event.state != WorkerState.SUCCESS:
            return
        details: AdapterDetails = event.worker.result
        if details.adapter.name == self.shown:
            self._fill(details)

    def _clear(self) -> None:
        self.query_one("#overview", Static).update(NO_SELECTION)
        self.query_one("#config", Static).update("")
        self.query_one("#files", DataTable).clear()
        self.query_one("#evaluations", DataTable).clear()
        self.query_one("#evaluation-bars", Static).update("")
        self.query_one("#card", Markdown).update("")

    def _fill(self, details: AdapterDetails) -> None:
        self.query_one("#overview", Static).update(overview(details))
        self.query_one("#config", Static).update(
            Syntax(details.config_json, "json", theme="ansi_dark", background_color="default")
        )
        files = self.query_one("#files", DataTable)
        files.clear()
        for file in details.files:
            files.add_row(
                file.path, file.role, Text(human_size(file.size), justify="right"), file.sha256[:16] + "…"
            )
        evaluations = self.query_one("#evaluations", DataTable)
        evaluations.clear()
        for e in details.evaluations:
            evaluations.add_row(
                e.dataset,
                e.split or "-",
                e.metric,
                Text(f"{e.value:.4g}", justify="right"),
                Text(str(e.n), justify="right"),
                e.created_at.strftime("%Y-%m-%d %H:%M"),
            )
        self.query_one("#evaluation-bars", Static).update(evaluation_bars(details.evaluations))
        self.query_one("#card", Markdown).update(details.card or "*No model card stored for this adapter.*")

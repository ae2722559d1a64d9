"""The eval dialog: what ``hubcli eval ADAPTER`` asks (dataset, split, task, fields, metrics,
limit, base), for the selected adapter.

Only strings are collected here: ``job_calls.evaluate`` builds hubcli's ``EvalRequest`` in the
worker, so opening the dialog never imports torch, and an unknown task or column is reported by
hubcli itself, in an error dialog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label

from hubcli.tui.dialogs import FormDialog


@dataclass(frozen=True)
class EvalAnswers:
    """The fields of ``hubcli.services.evaluating.EvalRequest`` the dialog asks for."""

    dataset: str
    split: str | None = None
    task: str | None = None
    text_field: str | None = None
    text_pair_field: str | None = None
    label_field: str | None = None
    metrics: tuple[str, ...] = ()
    limit: int | None = None
    base: str | None = None


FIELDS: tuple[tuple[str, str, str], ...] = (
    # (input id, label, placeholder)
    ("split", "Split (rows whose 'split' column has this value)", "all rows"),
    ("task", "Task", "default: from the adapter and the data"),
    ("text_field", "Text column", "default: text, sentence …"),
    ("text_pair_field", "Second text column (pair classification)", "default: none"),
    ("label_field", "Label column", "default: label …"),
    ("metrics", "Metrics to keep (comma separated)", "default: every metric of the task"),
    ("base", "Base model", "default: the adapter's"),
)


class EvalDialog(FormDialog[EvalAnswers | None]):
    DEFAULT_CSS = """
    EvalDialog > Vertical { height: 90%; }
    EvalDialog VerticalScroll { height: 1fr; }
    """
    SUBMIT_ID = "evaluate"

    def __init__(self, adapter_name: str) -> None:
        super().__init__()
        self.adapter_name = adapter_name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Evaluate {self.adapter_name}", classes="title")
            with VerticalScroll():
                yield Label("Dataset (CSV, JSONL, Parquet file, or a Hugging Face dataset id)")
                yield Input(str(Path.cwd()) + "/", id="dataset")
                for input_id, label, placeholder in FIELDS:
                    yield Label(label)
                    yield Input(placeholder=placeholder, id=input_id)
                yield Label("Limit (first N rows)")
                yield Input(placeholder="all rows", type="integer", id="limit")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Evaluate", variant="primary", id="evaluate")

    def _value(self, input_id: str) -> str | None:
        return self.query_one(f"#{input_id}", Input).value.strip() or None

    def submit(self) -> None:
        dataset = self._value("dataset")
        if dataset is None or dataset.endswith("/"):
            self.notify("Type a dataset file or id first.", severity="warning")
            return
        limit = self._value("limit")
        metrics = (self._value("metrics") or "").replace(",", " ").split()
        self.dismiss(
            EvalAnswers(
                dataset=dataset,
                split=self._value("split"),
                task=self._value("task"),
                text_field=self._value("text_field"),
                text_pair_field=self._value("text_pair_field"),
                label_field=self._value("label_field"),
                metrics=tuple(metrics),
                limit=int(limit) if limit and int(limit) > 0 else None,
                base=self._value("base"),
            )
        )

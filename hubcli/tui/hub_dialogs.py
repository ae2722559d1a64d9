"""Dialogs for the Hub: pull a repository, push the selected adapter.

They only collect answers (the requests of ``hubcli.services.pulling`` and ``.pushing``); the app
runs ``job_calls.pull_from_hub`` / ``job_calls.push_to_hub`` in a job, where hubcli.hub does the
transfer (and reads the endpoint and token from the environment, as the CLI does).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Static

from hubcli.services.pulling import PullRequest
from hubcli.services.pushing import PushRequest
from hubcli.tui.dialogs import FormDialog


def _optional(text: str) -> str | None:
    return text.strip() or None


class PullDialog(FormDialog[PullRequest | None]):
    SUBMIT_ID = "pull"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Pull from the Hub", classes="title")
            yield Label("Repository (namespace/name, optionally @revision)")
            yield Input(placeholder="e.g. AdapterHub/roberta-base-pf-imdb", id="repo")
            yield Label("Revision (branch, tag or commit; default: main)")
            yield Input(id="revision")
            yield Label("Name (optional; default from the repository)")
            yield Input(id="name")
            yield Checkbox("Import every adapter of the repository (sub-folders)", id="every")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Pull", variant="primary", id="pull")

    def submit(self) -> None:
        repo = self.query_one("#repo", Input).value.strip()
        if not repo:
            self.notify("Type a repository first.", severity="warning")
            return
        self.dismiss(
            PullRequest(
                repo=repo,
                revision=_optional(self.query_one("#revision", Input).value),
                name=_optional(self.query_one("#name", Input).value),
                every=self.query_one("#every", Checkbox).value,
            )
        )


class PushDialog(FormDialog[PushRequest | None]):
    SUBMIT_ID = "push"

    def __init__(self, adapter_name: str, adapter_format: str) -> None:
        super().__init__()
        self.adapter_name = adapter_name
        self.adapter_format = adapter_format

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Push {self.adapter_name} to the Hub", classes="title")
            yield Static(f"Format: {self.adapter_format} (as stored)", markup=False)
            yield Label("Repository (namespace/name)")
            yield Input(placeholder=f"e.g. your-name/{self.adapter_name}", id="repo")
            yield Label("Branch (default: main)")
            yield Input(id="revision")
            yield Checkbox("Private repository (when it is created)", id="private")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Push", variant="primary", id="push")

    def submit(self) -> None:
        repo = self.query_one("#repo", Input).value.strip()
        if not repo:
            self.notify("Type a repository first.", severity="warning")
            return
        self.dismiss(
            PushRequest(
                name=self.adapter_name,
                repo=repo,
                revision=_optional(self.query_one("#revision", Input).value),
                private=self.query_one("#private", Checkbox).value,
            )
        )

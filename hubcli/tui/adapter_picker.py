"""Choosing adapters inside a dialog: a filter box over a list of registry adapters.

The list is a window of at most ``PICKER_LIMIT`` matches, queried in a thread worker each time
the filter changes, so a dialog opens at once even on a registry of 100,000 adapters. With
``multiple`` the list has check boxes (merge, compare); without, Enter picks one adapter and
the picker posts ``Picked`` (the stitch composer).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, SelectionList
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from hubcli.tui.dialogs import error_dialog
from registry import Registry

PICKER_LIMIT = 200


@dataclass(frozen=True)
class Choice:
    """What a dialog needs to know about an adapter it offers."""

    name: str
    architecture: str
    base_model: str | None


def find_choices(registry: Registry, search: str) -> list[Choice]:
    adapters = registry.list_adapters(search=search or None, sort="name", limit=PICKER_LIMIT)
    return [Choice(a.name, a.architecture, a.base_model) for a in adapters]


class AdapterPicker(Vertical):
    """Filter box and adapter list; ``chosen`` keeps checked adapters across filter changes."""

    DEFAULT_CSS = """
    AdapterPicker { height: 1fr; min-height: 6; }
    AdapterPicker Input { margin-bottom: 0; }
    AdapterPicker OptionList, AdapterPicker SelectionList { height: 1fr; }
    """

    class Picked(Message):
        """Enter on an adapter of a single-choice picker."""

        def __init__(self, choice: Choice) -> None:
            super().__init__()
            self.choice = choice

    def __init__(
        self, registry: Registry, *, multiple: bool, preselected: list[str] | None = None, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.registry = registry
        self.multiple = multiple
        self.chosen: dict[str, Choice] = {}
        self._preselected = list(preselected or [])
        self.shown: list[Choice] = []
        self.loaded = False
        """Whether the first query has answered."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter adapters …", id="picker-filter")
        yield SelectionList[str](id="picker-list") if self.multiple else OptionList(id="picker-list")

    def on_mount(self) -> None:
        self._load("")

    @on(Input.Changed, "#picker-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._load(event.value.strip())

    @on(Input.Submitted, "#picker-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#picker-list").focus()

    def _load(self, search: str) -> None:
        self.run_worker(
            lambda: find_choices(self.registry, search),
            thread=True,
            group="picker",
            exclusive=True,
            exit_on_error=False,
            description="list adapters",
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker events do not bubble, so the picker reports its own failures."""
        if event.worker.group != "picker":
            return
        if event.state == WorkerState.SUCCESS:
            self._show(event.worker.result)
        elif event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.push_screen(error_dialog(event.worker.error))

    def _show(self, choices: list[Choice]) -> None:
        self.shown = choices
        if not self.loaded:
            self.chosen.update({c.name: c for c in choices if c.name in self._preselected})
            self.loaded = True
        if self.multiple:
            selection = self.query_one("#picker-list", SelectionList)
            selection.clear_options()
            selection.add_options([(self._label(c), c.name, c.name in self.chosen) for c in choices])
        else:
            options = self.query_one("#picker-list", OptionList)
            options.clear_options()
            options.add_options([Option(self._label(c), id=c.name) for c in choices])

    @staticmethod
    def _label(choice: Choice) -> str:
        return f"{choice.name}  ({choice.architecture}, {choice.base_model or 'no base'})"

    @on(SelectionList.SelectionToggled)
    def _toggled(self, event: SelectionList.SelectionToggled) -> None:
        name = str(event.selection.value)
        choice = next(c for c in self.shown if c.name == name)
        if name in self.chosen:
            del self.chosen[name]
        else:
            self.chosen[name] = choice

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Picked(self.shown[event.option_index]))

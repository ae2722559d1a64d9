"""The catalogue of app-level actions, as data.

One table feeds the key bindings (and so the footer and the user keymap), the command palette
and the F1 help, so an action is never reachable in one place and missing from another.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TuiAction:
    """An app action: ``id`` is both the binding id (keymap key) and the ``action_<id>`` name."""

    id: str
    key: str
    label: str
    description: str
    needs_selection: bool = False
    needs_adapters: int = 0
    """How many adapters the registry must hold for the action to make sense (merge: two)."""
    show: bool = True


ACTIONS: tuple[TuiAction, ...] = (
    TuiAction("help", "f1", "Help", "Keys and help for the focused panel"),
    TuiAction("add", "f2", "Add", "Import an adapter from a folder on disk"),
    TuiAction("tag", "f3", "Tag", "Add or remove tags of the selected adapter", needs_selection=True),
    TuiAction("verify", "f4", "Verify", "Re-hash every stored file and clean up leftovers"),
    TuiAction("refresh", "f5", "Refresh", "Reload adapters, groups and counts"),
    TuiAction("toggle_groups", "f6", "Groups", "Show or hide the groups panel"),
    TuiAction("toggle_detail", "f7", "Detail", "Show or hide the detail panel"),
    TuiAction("remove", "f8,delete", "Remove", "Remove the selected adapter", needs_selection=True),
    TuiAction("toggle_jobs", "f9", "Jobs", "Show or hide the jobs panel"),
    TuiAction("quit", "f10", "Quit", "Quit hubcli"),
    TuiAction("maximize", "f11", "Max", "Maximise the focused panel, or restore the layout"),
    TuiAction("toggle_theme", "f12", "Theme", "Switch between the dark and the light theme"),
    TuiAction("pull", "ctrl+l", "Pull", "Pull adapters from a Hub repository"),
    TuiAction(
        "push", "ctrl+u", "Push", "Push the selected adapter to a Hub repository", needs_selection=True
    ),
    TuiAction("stitch", "ctrl+t", "Stitch", "Compose adapters into a stitch recipe", needs_adapters=1),
    TuiAction("eval", "ctrl+n", "Eval", "Evaluate the selected adapter on a dataset", needs_selection=True),
    TuiAction(
        "merge",
        "ctrl+g",
        "Merge",
        "Merge adapters into a new one (linear, TIES, DARE, SVD …)",
        needs_adapters=2,
    ),
    TuiAction(
        "compare",
        "ctrl+r",
        "Compare",
        "Heatmap of weight distances or layer CKA between adapters",
        needs_adapters=1,
    ),
    TuiAction("hub", "ctrl+b", "Hub", "Search the Hub for adapters, see their files, pull one"),
    TuiAction("focus_filter", "slash", "Filter", "Type to filter adapters", show=False),
)

ACTIONS_BY_ID = {action.id: action for action in ACTIONS}

"""What the TUI remembers between runs: theme, layout, last filter and sort.

Kept as a small JSON file in the hubcli home. A missing, unreadable or partly wrong file never
stops the app: bad values fall back to their defaults one by one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

STATE_FILE = "tui-state.json"
THEMES = ("textual-dark", "textual-light")


@dataclass
class TuiState:
    theme: str = THEMES[0]
    filter: str = ""
    group_kind: str = ""
    """The side panel's group (base_model, architecture or tag; "" for all) and its value."""
    group_value: str = ""
    sort: str = "name"
    descending: bool = False
    show_groups: bool = True
    show_detail: bool = True
    show_jobs: bool = True


def state_path(home: Path) -> Path:
    return Path(home) / STATE_FILE


def load_state(home: Path) -> TuiState:
    """The saved state, keeping only values of the right type."""
    try:
        data = json.loads(state_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return TuiState()
    if not isinstance(data, dict):
        return TuiState()
    state = TuiState()
    for field in fields(TuiState):
        value = data.get(field.name)
        if isinstance(value, type(getattr(state, field.name))):
            setattr(state, field.name, value)
    if state.theme not in THEMES:
        state.theme = THEMES[0]
    return state


def save_state(home: Path, state: TuiState) -> None:
    """Write atomically, so a crash mid-write leaves the previous state readable."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    os.replace(temporary, path)

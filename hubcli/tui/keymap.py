"""User key overrides: ``tui-keymap.toml`` in the hubcli home maps action ids to keys.

Example::

    add = "ctrl+a"          # one key
    remove = "f8,ctrl+d"    # several keys, comma separated

Textual applies the overrides by binding id (``App.set_keymap``); this module only reads and
checks the file, returning problems as text for the app to show instead of failing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

KEYMAP_FILE = "tui-keymap.toml"


@dataclass
class UserKeymap:
    keys: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def keymap_path(home: Path) -> Path:
    return Path(home) / KEYMAP_FILE


def load_keymap(home: Path, known_ids: Iterable[str]) -> UserKeymap:
    """Overrides for ``known_ids``; unknown ids and non-string keys are reported, not applied."""
    path = keymap_path(home)
    if not path.is_file():
        return UserKeymap()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return UserKeymap(problems=[f"{path}: {exc}"])
    known = set(known_ids)
    result = UserKeymap()
    for action_id, keys in data.items():
        if action_id not in known:
            result.problems.append(
                f"{path}: unknown action {action_id!r} (known: {', '.join(sorted(known))})"
            )
        elif not isinstance(keys, str) or not keys.strip():
            result.problems.append(f"{path}: {action_id} must be a non-empty string of keys")
        else:
            result.keys[action_id] = keys.replace(" ", "")
    return result

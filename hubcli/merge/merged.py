"""What every architecture's merge returns, and the checks they share on their inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hubcli.merge.spec import MergeError
from hubcli.plugin_api import LoadedAdapter


@dataclass
class MergedAdapter:
    """A merged adapter ready to be written as a folder: its config file, its weight file and
    a summary of how it was made (ranks, approximation errors) for the report."""

    config: dict[str, Any]
    weights_file: str
    tensors: dict[str, torch.Tensor]
    summary: dict[str, Any] = field(default_factory=dict)


def refuse_saved_modules(adapter: LoadedAdapter) -> None:
    """Heads and PEFT ``modules_to_save`` are whole trained modules of one task, not deltas to a
    shared base: mixing two tasks' classifiers has no meaning, so such inputs are refused."""
    saved = adapter.config.get("modules_to_save") or []
    if saved or adapter.head_tensors:
        what = f"modules_to_save {', '.join(saved)}" if saved else "a prediction head"
        raise MergeError(
            f"adapter {adapter.name!r} carries {what}: merging trained heads is not supported "
            "(merge adapters without heads)"
        )


def same_layout(
    name_of: Sequence[str], groups: Sequence[Mapping[str, tuple[int, ...]]], what: str
) -> list[str]:
    """The keys every input shares, after checking that all inputs have the same keys with the
    same shapes; the error names the first input that differs and the key."""
    first_name, first = name_of[0], groups[0]
    for name, group in zip(name_of[1:], groups[1:], strict=True):
        missing = sorted(set(first) - set(group))
        extra = sorted(set(group) - set(first))
        if missing or extra:
            key, side = (missing[0], f"{name!r} lacks") if missing else (extra[0], f"only {name!r} has")
            raise MergeError(
                f"{first_name!r} and {name!r} adapt different {what}: {side} {key!r} "
                "(merging needs the same modules in every input)"
            )
        for key in first:
            if tuple(first[key]) != tuple(group[key]):
                raise MergeError(
                    f"{key!r} has shape {list(first[key])} in {first_name!r} but "
                    f"{list(group[key])} in {name!r} (merging needs {what} of the same shapes)"
                )
    return sorted(first)

"""Removing adapters: ``hubcli rm`` and the TUI's Remove action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from registry import Registry


@dataclass(frozen=True)
class RemoveRequest:
    names: tuple[str, ...]


@dataclass(frozen=True)
class RemoveResult:
    freed: dict[str, int]
    """Per removed adapter, how many stored files no other adapter used (deleted with it)."""


def remove(
    registry: Registry, request: RemoveRequest, progress: ProgressCallback = ignore_progress
) -> RemoveResult:
    """Remove every named adapter, after checking that they all exist (none removed otherwise)."""
    for name in request.names:
        registry.get_adapter(name)
    freed = {}
    for name in request.names:
        progress(Progress("removing", detail=name))
        freed[name] = registry.remove_adapter(name)
    return RemoveResult(freed)

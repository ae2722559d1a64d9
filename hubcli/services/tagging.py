"""Tagging an adapter: ``hubcli tag`` and the TUI's Tag dialog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from registry import Registry


@dataclass(frozen=True)
class TagRequest:
    name: str
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagResult:
    name: str
    tags: list[str]
    """The adapter's tags after the change."""


def tag(registry: Registry, request: TagRequest, progress: ProgressCallback = ignore_progress) -> TagResult:
    progress(Progress("tagging", detail=request.name))
    tags = registry.set_tags(request.name, add=request.add, remove=request.remove)
    return TagResult(request.name, tags)

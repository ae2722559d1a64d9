"""Pushing an adapter to the Hub: one call for ``hubcli push`` and the TUI's Push dialog;
``hubcli.hub.push`` writes the files and the model card and makes the commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubcli.progress import ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from hubcli.hub.push import PushReport
    from registry import Registry


@dataclass(frozen=True)
class PushRequest:
    """Adapter ``name`` to ``repo`` (``namespace/name``, created if missing) on branch
    ``revision`` (None: main), in ``format`` (None: the stored one)."""

    name: str
    repo: str
    format: str | None = None
    private: bool = False
    revision: str | None = None
    create_pr: bool = False
    endpoint: str | None = None


def push(
    registry: Registry, request: PushRequest, progress: ProgressCallback = ignore_progress
) -> PushReport:
    """Upload the adapter in one commit (none when the remote already holds the same files)."""
    from hubcli.hub.push import push as push_adapter

    return push_adapter(
        registry,
        request.name,
        request.repo,
        fmt=request.format,
        private=request.private,
        revision=request.revision,
        create_pr=request.create_pr,
        endpoint=request.endpoint,
        on_progress=progress,
    )

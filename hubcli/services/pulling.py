"""Pulling adapters from the Hub: one call for ``hubcli pull`` and the TUI's Pull dialog and Hub
screen; ``hubcli.hub.pull`` does the transfer and the import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubcli.progress import ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from hubcli.hub.pull import PullReport
    from registry import Registry


@dataclass(frozen=True)
class PullRequest:
    """``repo`` is ``namespace/name[@revision]``; ``subfolder`` picks one adapter of a repository
    with several, ``every`` takes them all; ``endpoint`` None: ``HF_ENDPOINT`` or huggingface.co."""

    repo: str
    revision: str | None = None
    name: str | None = None
    subfolder: str | None = None
    every: bool = False
    endpoint: str | None = None


def pull(
    registry: Registry, request: PullRequest, progress: ProgressCallback = ignore_progress
) -> PullReport:
    """Download the repository and register its adapter(s); repeats are served from the cache."""
    from hubcli.hub.pull import pull as pull_repository

    return pull_repository(
        registry,
        request.repo,
        revision=request.revision,
        name=request.name,
        subfolder=request.subfolder,
        all_=request.every,
        endpoint=request.endpoint,
        on_progress=progress,
    )

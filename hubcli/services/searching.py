"""Searching the Hub for adapters, and listing a result's files: for ``hubcli search`` and the
TUI's Hub screen; ``hubcli.hub.search`` asks the Hub."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubcli.hub.search import HubAdapter, RepoFile


@dataclass(frozen=True)
class SearchRequest:
    """Adapters whose id contains ``query`` (None: any), of ``library`` (peft or adapters;
    None: both), for base model ``base``; ``endpoint`` None: ``HF_ENDPOINT`` or huggingface.co."""

    query: str | None = None
    library: str | None = None
    base: str | None = None
    limit: int = 20
    endpoint: str | None = None


def search(request: SearchRequest) -> list[HubAdapter]:
    """The matching adapters, most downloaded first."""
    from hubcli.hub.search import search as search_hub

    return search_hub(
        request.query,
        library=request.library,
        base=request.base,
        limit=request.limit,
        endpoint=request.endpoint,
    )


def repo_files(repo_id: str, endpoint: str | None = None) -> list[RepoFile]:
    """The files of ``repo_id`` on its default branch, with sizes (what a pull would fetch)."""
    from hubcli.hub.search import repo_files as list_files

    return list_files(repo_id, endpoint=endpoint)

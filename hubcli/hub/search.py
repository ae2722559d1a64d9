"""``hubcli search``: find adapters on the Hub with what it takes to choose one (and, for the
TUI's Hub screen, the files of a result).

The Hub marks adapters by library (``peft``, ``adapter-transformers``) and by the tag
``base_model:adapter:<base>``; a search without ``--library`` asks for both libraries and merges
the answers, so it lists adapters rather than every model whose name matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hubcli.hub import settings
from hubcli.hub.errors import HubError, hub_errors

LIBRARIES = {"peft": "peft", "adapters": "adapter-transformers"}


@dataclass(frozen=True)
class HubAdapter:
    id: str
    library: str | None
    base_model: str | None
    downloads: int
    likes: int
    last_modified: datetime | None
    tags: list[str]
    private: bool


def _base_model(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    base = card.get("base_model") if card is not None else None
    if isinstance(base, list):
        base = base[0] if base else None
    if base:
        return str(base)
    prefix = "base_model:adapter:"
    return next((t[len(prefix) :] for t in info.tags or [] if t.startswith(prefix)), None)


def search(
    query: str | None,
    *,
    library: str | None = None,
    base: str | None = None,
    limit: int = 20,
    endpoint: str | None = None,
) -> list[HubAdapter]:
    """Adapters whose id contains ``query``, most downloaded first."""
    from huggingface_hub import HfApi

    if library is not None and library not in LIBRARIES:
        raise HubError(f"unknown library {library!r}: choose {' or '.join(LIBRARIES)}")
    url = settings.endpoint(endpoint)
    api = HfApi(endpoint=url)
    found: dict[str, HubAdapter] = {}
    with hub_errors(f"search {query or ''}".strip(), None, url):
        for hub_library in [LIBRARIES[library]] if library else list(LIBRARIES.values()):
            filters = [hub_library] + ([f"base_model:adapter:{base}"] if base else [])
            for info in api.list_models(
                search=query or None, filter=filters, sort="downloads", limit=limit, cardData=True
            ):
                found.setdefault(
                    info.id,
                    HubAdapter(
                        id=info.id,
                        library=info.library_name,
                        base_model=_base_model(info),
                        downloads=info.downloads or 0,
                        likes=info.likes or 0,
                        last_modified=info.last_modified,
                        tags=list(info.tags or []),
                        private=bool(info.private),
                    ),
                )
    ranked = sorted(found.values(), key=lambda a: (-a.downloads, a.id))
    return ranked[:limit]


@dataclass(frozen=True)
class RepoFile:
    """One file of a Hub repository; ``size`` None when the Hub does not say."""

    path: str
    size: int | None


def repo_files(repo_id: str, *, endpoint: str | None = None) -> list[RepoFile]:
    """The files of ``repo_id`` on its default branch, with sizes."""
    from huggingface_hub import HfApi

    url = settings.endpoint(endpoint)
    with hub_errors(repo_id, None, url):
        info = HfApi(endpoint=url).model_info(repo_id, files_metadata=True)
    return [RepoFile(sibling.rfilename, sibling.size) for sibling in info.siblings or []]

"""Adding adapters from disk: a folder, a folder of adapters, or an archive of either.

One implementation for ``hubcli add`` and the TUI's Add dialog, so that both unpack archives,
choose sub-folders by the same rule (``hubcli.importer.choose_adapter_folders``) and name the
adapters alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hubcli.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from contextlib import ExitStack

    from hubcli.importer import ImportOutcome
    from hubcli.plugin_api import AdapterFolder
    from registry import Registry


@dataclass(frozen=True)
class AddRequest:
    """What to import: ``path`` (a folder or an archive), and how.

    ``name`` names a single adapter (default: from its files, or the sub-folder's name);
    ``subfolder`` picks one adapter of a folder of adapters, ``every`` takes them all."""

    path: Path
    name: str | None = None
    base_model: str | None = None
    subfolder: str | None = None
    every: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddResult:
    """What importing did, one outcome per adapter in the order imported."""

    outcomes: tuple[ImportOutcome, ...]


def add(registry: Registry, request: AddRequest, progress: ProgressCallback = ignore_progress) -> AddResult:
    """Import the adapter(s) of ``request.path``; an archive is unpacked into the registry's
    staging area first and recorded as the source."""
    from contextlib import ExitStack

    from hubcli.importer import adapter_subfolders, choose_adapter_folders, import_adapter

    path = request.path
    with ExitStack() as stack:
        root = _root_folder(registry, path, stack)
        chosen = choose_adapter_folders(
            str(path), adapter_subfolders(root), request.subfolder, request.every, request.name
        )
        outcomes = []
        for done, sub in enumerate(chosen):
            progress(Progress("importing", done, len(chosen), detail=sub or root.root.name))
            outcome = import_adapter(
                registry,
                root.sub(sub) if sub else root,
                name=request.name if request.name else (sub or None),
                base_model=request.base_model,
                tags=request.tags,
                source=_archive_source(path, sub),
            )
            outcomes.append(outcome)
        progress(Progress("done", len(chosen), len(chosen)))
    return AddResult(tuple(outcomes))


def _root_folder(registry: Registry, path: Path, stack: ExitStack) -> AdapterFolder:
    """The folder to read: ``path`` itself, or an archive unpacked into a staging folder that
    ``stack`` removes afterwards."""
    from hubcli.archives import extract_archive, is_archive
    from hubcli.plugin_api import AdapterFolder

    if not is_archive(path):
        return AdapterFolder(path)
    unpacked = stack.enter_context(registry.store.staging()) / "archive"
    unpacked.mkdir()
    extract_archive(path, unpacked)
    return AdapterFolder(unpacked, label=str(path))


def _archive_source(path: Path, sub: str) -> str | None:
    """An unpacked archive's folder is temporary: the archive is the source to record
    (None: the importer records the folder itself)."""
    from hubcli.archives import is_archive

    if not is_archive(path):
        return None
    return f"{path.resolve()}{'/' + sub if sub else ''}"

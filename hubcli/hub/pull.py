"""``hubcli pull``: download a Hub repository into the Hugging Face cache and import its adapters.

The files land in huggingface_hub's own cache (shared with transformers and PEFT, resumable,
and what ``HF_HUB_OFFLINE=1`` serves from), then each adapter folder goes through
``import_adapter``, the same path as ``hubcli add``, which validates everything before one
registry transaction. A failed download therefore never touches the registry.

Which adapters a repository holds is read from its file listing first (the Hub's model info, or
the cached listing offline), so asking for one sub-folder downloads only that sub-folder, and a
repository with several adapters is explained before anything big is fetched.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hubcli.hub import settings
from hubcli.hub.byte_counter import ByteCounter
from hubcli.hub.errors import HubError, HubUnavailable, hub_errors
from hubcli.importer import CONFIG_FILES, ImportOutcome, check_name, choose_adapter_folders, import_adapter
from hubcli.plugin_api import AdapterFolder
from hubcli.progress import Progress, ProgressCallback, ignore_progress
from registry import Registry
from registry.faults import checkpoint

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class RepoRef:
    """``namespace/name`` and the revision asked for (None: the default branch)."""

    repo_id: str
    revision: str | None = None

    @property
    def label(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id


def parse_repo_ref(text: str, revision: str | None = None) -> RepoRef:
    """``ns/name[@rev]``; ``revision`` (``--revision``) must agree with an ``@rev`` suffix."""
    repo_id, _, suffix = text.partition("@")
    if not REPO_ID.match(repo_id):
        raise HubError(f"{text!r} is not a Hub repository id (expected namespace/name[@revision])")
    if suffix and revision and suffix != revision:
        raise HubError(f"{text!r} and --revision {revision!r} name different revisions")
    return RepoRef(repo_id, suffix or revision or None)


@dataclass(frozen=True)
class PulledAdapter:
    """One adapter of the repository and what importing it did."""

    subfolder: str
    outcome: ImportOutcome

    @property
    def up_to_date(self) -> bool:
        return not self.outcome.created


@dataclass
class PullReport:
    ref: RepoRef
    endpoint: str
    commit: str
    offline: bool
    bytes_downloaded: int
    adapters: list[PulledAdapter] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return all(item.up_to_date for item in self.adapters)


def remote_files(ref: RepoRef, endpoint: str) -> list[str]:
    """Paths of the repository's files at ``ref``: from the Hub's model info (one request, no
    retries), or, offline or when the Hub cannot be reached, from the listing cached by an
    earlier pull (huggingface_hub's own fallback for downloads)."""
    import httpx2
    from huggingface_hub import HfApi, get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    with hub_errors(ref.repo_id, ref.revision, endpoint):
        if not settings.offline():
            try:
                info = HfApi(endpoint=endpoint).model_info(ref.repo_id, revision=ref.revision)
                return [sibling.rfilename for sibling in info.siblings or []]
            except (httpx2.ConnectError, httpx2.TimeoutException):
                pass
        try:
            cached = get_cached_repo_tree(ref.repo_id, revision=ref.revision, cache_dir=settings.cache_dir())
        except CachedRepoTreeNotFoundError:
            raise HubUnavailable(
                f"{ref.label} is not in the local Hugging Face cache and the Hub cannot be used "
                "(offline mode or no connection): pull it once while online"
            ) from None
        return [entry.path for entry in cached]


def adapter_folders(paths: list[str]) -> list[str]:
    """Where the adapters are: ``[""]`` for the repository root, else the sub-folders that
    hold an adapter or fusion config (the same rule as ``hubcli add``)."""
    if any(name in paths for name in CONFIG_FILES):
        return [""]
    return sorted({p.split("/")[0] for p in paths if p.count("/") == 1 and p.split("/")[1] in CONFIG_FILES})


def download(
    ref: RepoRef, endpoint: str, subfolders: list[str], on_progress: ProgressCallback = ignore_progress
) -> tuple[Path, int]:
    """The snapshot folder of ``ref`` in the HF cache (the whole repository, or only
    ``subfolders``) and the bytes it took to fetch it."""
    from huggingface_hub import snapshot_download

    counter = ByteCounter(on_progress)
    with hub_errors(ref.repo_id, ref.revision, endpoint):
        folder = snapshot_download(
            ref.repo_id,
            revision=ref.revision,
            endpoint=endpoint,
            cache_dir=settings.cache_dir(),
            local_files_only=settings.offline(),
            allow_patterns=[f"{sub}/*" for sub in subfolders] if "" not in subfolders else None,
            tqdm_class=counter.tqdm_class(),
        )
    return Path(folder), counter.bytes


def materialise(snapshot: Path, staging: Path) -> Path:
    """A plain copy of a cached snapshot in ``staging``.

    The HF cache holds snapshots as symlinks into its blob folder, which ``AdapterFolder``
    rightly refuses (a link leading out of an adapter folder); copying the resolved files, and
    only those that resolve inside the repository's own cache folder, gives the importer a
    normal folder to read and leaves the cache untouched.
    """
    repo_cache = snapshot.parent.parent.resolve()
    target = staging / "snapshot"
    for entry in sorted(snapshot.rglob("*")):
        resolved = entry.resolve()
        if not resolved.is_file() or repo_cache not in resolved.parents:
            continue
        destination = target / entry.relative_to(snapshot)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(resolved, destination)
    target.mkdir(exist_ok=True)
    return target


def pull(
    registry: Registry,
    repo: str,
    *,
    revision: str | None = None,
    name: str | None = None,
    subfolder: str | None = None,
    all_: bool = False,
    endpoint: str | None = None,
    on_progress: ProgressCallback = ignore_progress,
) -> PullReport:
    """Download ``repo`` (``ns/name[@rev]``) and register its adapter(s).

    Names: ``name`` for a single adapter, else the repository's name, or the sub-folder's name
    for repositories with several adapters. Pulling content that is already registered under
    that name changes nothing and reports "up to date".
    """
    ref = parse_repo_ref(repo, revision)
    url = settings.endpoint(endpoint)
    if name is not None:
        check_name(name)
    on_progress(Progress("resolving", detail=ref.label))
    chosen = choose_adapter_folders(ref.label, adapter_folders(remote_files(ref, url)), subfolder, all_, name)
    folder, transferred = download(ref, url, chosen, on_progress)
    checkpoint("downloaded")
    report = PullReport(ref, url, folder.name, settings.offline(), transferred)
    with registry.store.staging() as staging:
        snapshot = AdapterFolder(materialise(folder, staging), label=ref.label)
        try:
            for sub in chosen:
                on_progress(Progress("importing", detail=sub or ref.repo_id))
                outcome = import_adapter(
                    registry,
                    snapshot.sub(sub) if sub else snapshot,
                    name=name or sub or ref.repo_id.split("/")[1],
                    source_kind="hub",
                    source=f"{ref.repo_id}/{sub}" if sub else ref.repo_id,
                    source_revision=ref.revision or "main",
                    source_commit=folder.name,
                )
                report.adapters.append(PulledAdapter(sub, outcome))
        except BaseException:
            # --all is all or nothing: undo the adapters this pull registered before the failure
            for item in report.adapters:
                if item.outcome.created:
                    registry.remove_adapter(item.outcome.adapter.name)
            raise
    return report

"""``hubcli push``: upload a registered adapter to a Hub repository in one commit.

The adapter is written in its layout (the stored files: the original config verbatim, weights
as safetensors), or converted to the other format by its architecture plugin (``--format``,
docs/export.md), plus a generated README.md model card. Before committing, the files are compared
with the remote revision's files (git blob ids for regular files, sha256 for LFS files), so
pushing the same content again makes no commit. A ``Remote`` row records every push; it is written only after the
Hub has accepted the commit, so an interrupted push leaves the registry's remotes as they were.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from hubcli.hub import settings
from hubcli.hub.card import model_card
from hubcli.hub.errors import hub_errors
from hubcli.hub.pull import parse_repo_ref
from hubcli.progress import Progress, ProgressCallback, ignore_progress
from registry import Adapter, Registry, Remote

CARD_ROLE = "card"
README = "README.md"


@dataclass(frozen=True)
class LocalFile:
    """A file to upload: its path in the repository and its content (path or bytes)."""

    path: str
    content: Path | bytes
    sha256: str

    def read(self) -> bytes:
        return self.content if isinstance(self.content, bytes) else self.content.read_bytes()

    @property
    def size(self) -> int:
        return len(self.content) if isinstance(self.content, bytes) else self.content.stat().st_size

    def operation(self):
        """The upload of this file for ``create_commit`` (stored blobs are streamed from disk)."""
        from huggingface_hub import CommitOperationAdd

        source = self.content if isinstance(self.content, bytes) else str(self.content)
        return CommitOperationAdd(path_in_repo=self.path, path_or_fileobj=source)

    @property
    def git_oid(self) -> str:
        data = self.read()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class PushReport:
    name: str
    repo_id: str
    endpoint: str
    revision: str
    commit: str
    format: str
    files: list[str]
    up_to_date: bool
    commit_url: str | None = None
    pr_url: str | None = None


def check_format(adapter: Adapter, fmt: str | None) -> str:
    """The format to write: the stored one by default; another one when the architecture
    plugin can convert into it (refused before any network request otherwise)."""
    from hubcli.services.exporting import check_export_format

    return check_export_format(adapter, fmt)


def local_files(
    registry: Registry, adapter: Adapter, repo_id: str, fmt: str, staging: Path
) -> list[LocalFile]:
    """The stored files (minus any original card), or the plugin's conversion of them into
    ``fmt`` written under ``staging``, and a freshly generated README.md."""
    if fmt == adapter.format:
        files = [
            LocalFile(f.path, registry.file_path(f), f.sha256)
            for f in registry.files(adapter)
            if f.role != CARD_ROLE and f.path != README
        ]
    else:
        from hubcli.services.exporting import export_adapter
        from registry.store import sha256_file

        report = export_adapter(registry, adapter.name, staging / "converted", fmt)
        files = [
            LocalFile(rel, report.folder / rel, sha256_file(report.folder / rel)) for rel in report.files
        ]
    card = model_card(
        adapter,
        repo_id=repo_id,
        fmt=fmt,
        registry_tags=registry.tags(adapter),
        evaluations=registry.evaluations(adapter=adapter),
    ).encode()
    files.append(LocalFile(README, card, hashlib.sha256(card).hexdigest()))
    return files


def remote_commit_if_same(api, repo_id: str, revision: str, files: list[LocalFile]) -> str | None:
    """The commit of ``revision`` when it already holds every local file with the same content
    (one model-info request: its file list carries git blob ids and LFS sha256); else None."""
    from huggingface_hub import errors as hf

    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
    except (hf.RevisionNotFoundError, hf.RepositoryNotFoundError):
        return None
    remote = {sibling.rfilename: sibling for sibling in info.siblings or []}
    for item in files:
        entry = remote.get(item.path)
        if entry is None:
            return None
        if entry.lfs is not None:
            if entry.lfs.sha256 != item.sha256:
                return None
        elif entry.blob_id != item.git_oid:
            return None
    return info.sha


def push(
    registry: Registry,
    name: str,
    repo: str,
    *,
    fmt: str | None = None,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    endpoint: str | None = None,
    on_progress: ProgressCallback = ignore_progress,
) -> PushReport:
    """Push adapter ``name`` to ``repo`` (``ns/name``) on branch ``revision`` (default main)."""
    from huggingface_hub import HfApi

    adapter = registry.get_adapter(name)
    fmt = check_format(adapter, fmt)
    ref = parse_repo_ref(repo, revision)
    branch = ref.revision or "main"
    url = settings.endpoint(endpoint)
    api = HfApi(endpoint=url)
    with registry.store.staging() as staging, hub_errors(ref.repo_id, branch, url):
        files = local_files(registry, adapter, ref.repo_id, fmt, staging)
        on_progress(Progress("checking", detail=ref.repo_id))
        commit = remote_commit_if_same(api, ref.repo_id, branch, files)
        if commit is None:
            api.create_repo(ref.repo_id, private=private, exist_ok=True)
            if branch != "main" and not create_pr:
                api.create_branch(ref.repo_id, branch=branch, exist_ok=True)
                # a new branch starts at main, which may hold these very files: nothing to commit
                commit = remote_commit_if_same(api, ref.repo_id, branch, files)
        if commit is not None:
            report = PushReport(name, ref.repo_id, url, branch, commit, fmt, [f.path for f in files], True)
        else:
            total = sum(f.size for f in files)
            on_progress(Progress("uploading", 0, total, detail=f"{len(files)} files"))
            info = api.create_commit(
                ref.repo_id,
                [f.operation() for f in files],
                commit_message=f"Upload {adapter.architecture} adapter {name} with hubcli",
                revision=branch,
                create_pr=create_pr,
            )
            on_progress(Progress("uploading", total, total, detail=f"{len(files)} files"))
            report = PushReport(
                name,
                ref.repo_id,
                url,
                info.pr_revision or branch,
                info.oid,
                fmt,
                [f.path for f in files],
                False,
                info.commit_url,
                info.pr_url,
            )
    _record(registry, adapter, report)
    return report


def _record(registry: Registry, adapter: Adapter, report: PushReport) -> None:
    """One ``Remote`` row per distinct (endpoint, repo, revision, commit)."""
    key = (report.endpoint, report.repo_id, report.revision, report.commit)
    if any((r.endpoint, r.repo_id, r.revision, r.commit_sha) == key for r in registry.remotes(adapter)):
        return
    registry.add_remote(
        Remote(
            adapter_id=adapter.id,
            endpoint=report.endpoint,
            repo_id=report.repo_id,
            revision=report.revision,
            commit_sha=report.commit,
            format=report.format,
        )
    )

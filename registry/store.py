"""The content-addressed blob store: files kept once, under their sha256.

Writes go to a temporary name in the same file system and are renamed into place, so a blob
path either holds the complete content or does not exist. A writer claims the blobs it is about
to register in a small journal file named after its process id; ``cleanup`` removes temporary
files, staging folders and unreferenced blobs only when no live process claims them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from registry.errors import BlobDamaged, StoreCorrupt
from registry.faults import checkpoint

CHUNK = 1 << 20
VERIFY_HINT = "`hubcli verify` lists every damaged file; remove the adapter and add or pull it again"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class CleanupReport:
    temporary_files: int
    staging_folders: int
    orphan_blobs: int


class BlobStore:
    """Blobs under ``root/sha256/ab/<sha>``; scratch space under ``root/tmp`` and ``staging``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.blobs = home / "blobs" / "sha256"
        self.tmp = home / "blobs" / "tmp"
        self.claims = home / "blobs" / "claims"
        self.staging_root = home / "staging"
        for folder in (self.blobs, self.tmp, self.claims, self.staging_root):
            folder.mkdir(parents=True, exist_ok=True)
        self._verified: set[tuple[str, int, int, int]] = set()

    def path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def verified_path(self, sha256: str, size: int, describe: Callable[[], str]) -> Path:
        """The path of blob ``sha256`` after checking that it is there, ``size`` bytes long and
        still hashes to its name; ``BlobDamaged`` (one line starting with ``describe()``, which names the file for people) otherwise.

        A blob is hashed once per process while its file stays the same (same inode, size and
        modification time), so reading an adapter many times costs one hash of its files."""
        path = self.path(sha256)
        try:
            stat = path.stat()
        except OSError:
            raise BlobDamaged(
                f"{describe()}: its stored file is missing (blob {sha256[:12]}); {VERIFY_HINT}"
            ) from None
        if stat.st_size != size:
            raise BlobDamaged(
                f"{describe()}: its stored file has {stat.st_size} bytes, {size} were registered "
                f"(blob {sha256[:12]}); {VERIFY_HINT}"
            )
        seen = (sha256, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if seen not in self._verified:
            if sha256_file(path) != sha256:
                raise BlobDamaged(
                    f"{describe()}: its stored file no longer matches its sha256 (blob {sha256[:12]}); {VERIFY_HINT}"
                )
            self._verified.add(seen)
        return path

    def put(self, source: Path, expected: str | None = None) -> tuple[str, int]:
        """Copy ``source`` into the store; return (sha256, size) of what was stored.

        With ``expected`` (the caller hashed the file), a blob already stored under it is not
        read again, and a copy whose content no longer matches is refused."""
        if expected is not None and self.exists(expected):
            return expected, self.path(expected).stat().st_size
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix=f"{os.getpid()}-")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(source, tmp)  # in the kernel where the OS allows (sendfile)
            sha = sha256_file(tmp)  # the hash of what is stored, not of what was asked for
            with open(tmp, "rb+") as written:
                os.fsync(written.fileno())
            checkpoint("blob-written")
            if expected is not None and sha != expected:
                raise StoreCorrupt(f"{source}: the file changed while it was being imported")
            target = self.path(sha)
            if target.is_file():
                tmp.unlink()
            else:
                target.parent.mkdir(exist_ok=True)
                os.replace(tmp, target)
            checkpoint("blob-stored")
            return sha, target.stat().st_size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def delete(self, shas: Iterable[str]) -> None:
        for sha in shas:
            self.path(sha).unlink(missing_ok=True)

    def all_blobs(self) -> Iterator[str]:
        """Every stored blob's name; anything else in the store (a folder, a stray file at the
        top) is passed over, so that cleanup and verify never trip on junk."""
        for prefix in self.blobs.iterdir():
            if prefix.is_dir():
                for blob in prefix.iterdir():
                    if blob.is_file():
                        yield blob.name

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A scratch folder for one import, removed afterwards whatever happens."""
        folder = self.staging_root / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextlib.contextmanager
    def claim(self, shas: Iterable[str]) -> Iterator[None]:
        """Protect blobs from cleanup while this process registers them."""
        journal = self.claims / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.json"
        journal.write_text(json.dumps(sorted(set(shas))))
        try:
            yield
        finally:
            journal.unlink(missing_ok=True)

    def live_claims(self) -> set[str]:
        """Blobs that running writers are registering (journals of dead ones are dropped)."""
        claimed: set[str] = set()
        for journal in self.claims.glob("*.json"):
            pid = int(journal.name.split("-", 1)[0])
            if _pid_alive(pid):
                with contextlib.suppress(OSError, ValueError):
                    claimed.update(json.loads(journal.read_text()))
            else:
                journal.unlink(missing_ok=True)
        return claimed

    def cleanup(self, referenced: set[str]) -> CleanupReport:
        """Remove leftovers of dead writers and blobs that no row refers to."""
        temporary = 0
        for leftover in self.tmp.iterdir():
            pid = leftover.name.split("-", 1)[0]
            if not (pid.isdigit() and _pid_alive(int(pid))):
                leftover.unlink(missing_ok=True)
                temporary += 1
        staging = 0
        for folder in self.staging_root.iterdir():
            pid = folder.name.split("-", 1)[0]
            if not (pid.isdigit() and _pid_alive(int(pid))):
                shutil.rmtree(folder, ignore_errors=True)
                staging += 1
        claimed = self.live_claims()
        orphans = [sha for sha in self.all_blobs() if sha not in referenced and sha not in claimed]
        self.delete(orphans)
        return CleanupReport(temporary, staging, len(orphans))

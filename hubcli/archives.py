"""Unpacking adapter archives (.zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz) safely.

Every member is checked before anything is written: no absolute path, no ``..``, no link or
device file, names must be UTF-8, and the declared sizes must fit a sane budget — an archive can
never write outside the folder it is unpacked into.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from hubcli.errors import AdapterFormatError, UnsafeInputError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
MAX_UNPACKED_BYTES = 64 * 1024**3
MAX_MEMBERS = 10_000


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _checked_name(archive: Path, name: str) -> PurePosixPath:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeInputError(f"{archive}: member {name!r} has a file name that is not UTF-8") from None
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith(("/", "\\")) or ".." in pure.parts or "\\" in name:
        raise UnsafeInputError(f"{archive}: member {name!r} would be written outside the archive folder")
    return pure


def extract_archive(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into the empty folder ``dest`` after checking every member."""
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, dest)
        else:
            _extract_tar(archive, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise AdapterFormatError(f"{archive}: cannot read archive ({exc})") from None


def _check_budget(archive: Path, count: int, total: int) -> None:
    if count > MAX_MEMBERS:
        raise UnsafeInputError(f"{archive}: more than {MAX_MEMBERS} members")
    if total > MAX_UNPACKED_BYTES:
        raise UnsafeInputError(f"{archive}: declares {total} bytes unpacked, more than an adapter needs")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        _check_budget(archive, len(members), sum(m.file_size for m in members))
        for member in members:
            pure = _checked_name(archive, member.filename)
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise UnsafeInputError(f"{archive}: member {member.filename!r} is a symbolic link")
            target = dest.joinpath(*pure.parts)
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as bundle:
        members = bundle.getmembers()
        _check_budget(archive, len(members), sum(m.size for m in members))
        for member in members:
            pure = _checked_name(archive, member.name)
            if member.issym() or member.islnk():
                raise UnsafeInputError(f"{archive}: member {member.name!r} is a link")
            if not (member.isfile() or member.isdir()):
                raise UnsafeInputError(f"{archive}: member {member.name!r} is not a regular file")
            target = dest.joinpath(*pure.parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = bundle.extractfile(member)
            assert source is not None  # regular files always have content
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)

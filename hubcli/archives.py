"""Unpacking adapter archives (.zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz) safely.

Every member is checked before anything is written: no absolute path, no ``..``, no link or
device file, names must be UTF-8, no encrypted or unknown-compression zip member, and the declared
sizes must fit a sane budget, the free disk space, and a compression ratio no adapter has — an
archive can never write outside the folder it is unpacked into, nor fill the disk. A compressed
tar is read to the end of its stream afterwards, so its checksum is checked too: a damaged
archive is refused, not half imported.
"""

from __future__ import annotations

import errno
import lzma
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from hubcli.plugin_api import AdapterFormatError, UnsafeInputError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
MAX_UNPACKED_BYTES = 64 * 1024**3
MAX_MEMBERS = 10_000
BOMB_RATIO = 200
"""Unpacked size / archive size above which a large archive is refused as a decompression bomb.
Real adapters stay far below it (random-looking weights barely compress); zeros are what give
ratios in the hundreds, and only an archive that would unpack to more than ``BOMB_MIN_BYTES``
is held to it, so a small untrained adapter of zeros still unpacks."""
BOMB_MIN_BYTES = 1024**3
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
CHUNK = 1 << 20


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
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise UnsafeInputError(f"{archive}: no space left on the disk while unpacking it") from None
        raise AdapterFormatError(f"{archive}: cannot read archive ({exc})") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError) as exc:
        raise AdapterFormatError(f"{archive}: cannot read archive ({exc})") from None


def _check_budget(archive: Path, dest: Path, count: int, total: int) -> None:
    if count > MAX_MEMBERS:
        raise UnsafeInputError(f"{archive}: more than {MAX_MEMBERS} members")
    if total > MAX_UNPACKED_BYTES:
        raise UnsafeInputError(f"{archive}: declares {total} bytes unpacked, more than an adapter needs")
    packed = max(archive.stat().st_size, 1)
    if total > BOMB_MIN_BYTES and total > BOMB_RATIO * packed:
        raise UnsafeInputError(
            f"{archive}: would unpack {packed} bytes into {total}, more than {BOMB_RATIO} times its size "
            "(a decompression bomb, not an adapter)"
        )
    free = shutil.disk_usage(dest).free
    if total > free:
        raise UnsafeInputError(f"{archive}: unpacks to {total} bytes, the disk has {free} free")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        _check_budget(archive, dest, len(members), sum(m.file_size for m in members))
        for member in members:
            pure = _checked_name(archive, member.filename)
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise UnsafeInputError(f"{archive}: member {member.filename!r} is a symbolic link")
            if member.flag_bits & 0x1:
                raise UnsafeInputError(f"{archive}: member {member.filename!r} is encrypted")
            if member.compress_type not in ZIP_METHODS:
                raise AdapterFormatError(
                    f"{archive}: member {member.filename!r} uses compression method "
                    f"{member.compress_type}, which Python's zipfile cannot read"
                )
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
        _check_budget(archive, dest, len(members), sum(m.size for m in members))
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
        _read_to_the_end(bundle)


def _read_to_the_end(bundle: tarfile.TarFile) -> None:
    """Read a compressed tar's stream past the end-of-archive marker to its end: gzip, bzip2
    and xz check their checksum (and notice a cut-off stream) only there, and tarfile stops
    reading at the marker, so without this a damaged archive would import its damaged bytes."""
    stream = bundle.fileobj
    if stream is not None:
        while stream.read(CHUNK):
            pass

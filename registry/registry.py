"""The registry: adapters, their files, tags, evaluations, compositions and remotes.

One class, ``Registry``, over one database (SQLite in WAL mode by default, PostgreSQL through a
URL) and one blob store. Every write is a single transaction; blobs are written before the
transaction that references them and claimed while it runs, so a crash at any point leaves
either the complete adapter or nothing that ``cleanup`` does not remove.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, func, inspect
from sqlalchemy.engine import URL, Engine, ExceptionContext
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, create_engine, delete, select

from registry import migrations
from registry.errors import AdapterNotFound, RegistryError, RegistryUnavailable, name_taken
from registry.faults import checkpoint
from registry.schema import (
    Adapter,
    AdapterFile,
    Blob,
    Composition,
    Evaluation,
    Remote,
    Tag,
    utcnow,
)
from registry.store import BlobStore, CleanupReport, sha256_file

T = TypeVar("T")
WRITE_ATTEMPTS = 40
SORT_COLUMNS = ("name", "architecture", "base_model", "num_parameters", "size_bytes", "created_at")


@dataclass(frozen=True)
class NewFile:
    """A file to register: its path inside the adapter, its role, and where it lies now.

    ``sha256``, when the caller has hashed the file already, spares reading it again: a blob
    already stored under that hash is not read at all, and a new one is checked against it."""

    path: str
    role: str
    source: Path
    sha256: str | None = None


@dataclass
class NewAdapter:
    """Everything needed to register an adapter; ``Registry.add_adapter`` fills the rest."""

    name: str
    architecture: str
    format: str
    source_kind: str
    source: str
    files: list[NewFile]
    method_config: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    base_model: str | None = None
    model_type: str | None = None
    hidden_size: int | None = None
    task: str | None = None
    labels: list[str] | None = None
    num_parameters: int = 0
    source_revision: str | None = None
    source_commit: str | None = None
    license: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AddResult:
    adapter: Adapter
    created: bool


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    missing: list[str]
    corrupt: list[str]
    cleanup: CleanupReport

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt


def content_digest(files: Iterable[tuple[str, str]]) -> str:
    """The identity of an adapter's content: a hash over its (path, sha256) pairs."""
    digest = hashlib.sha256()
    for path, sha in sorted(files):
        digest.update(f"{path}\0{sha}\n".encode())
    return digest.hexdigest()


def search_text(adapter: Adapter, tags: Iterable[str]) -> str:
    """What a substring search looks through, lower-cased (see migration 0002)."""
    fields = [adapter.name, adapter.base_model, adapter.task, adapter.description, *tags]
    return "\n".join(f for f in fields if f).lower()


def _is_write_conflict(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    text_ = str(exc.orig if hasattr(exc, "orig") else exc).lower()
    return any(
        sign in text_
        for sign in ("database is locked", "database is busy", "deadlock", "could not serialize")
    )


def _current_row(session: Session, adapter: Adapter) -> Adapter:
    """``adapter``'s row in ``session``, for an update; a concurrent ``rm`` may have removed it since
    it was looked up."""
    row = session.get(Adapter, adapter.id)
    if row is None:
        raise AdapterNotFound(f"no adapter named {adapter.name!r} (it was just removed)")
    return row


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


DATABASE_PROBLEMS = {
    "file is not a database": "the database file is damaged or not a database: move registry.db "
    "aside to start an empty registry (its blobs stay), or restore it from a backup",
    "database disk image is malformed": "the database file is damaged: move registry.db aside to "
    "start an empty registry (its blobs stay), or restore it from a backup",
    "unable to open database file": "the database file cannot be opened (a folder of that name, "
    "or no permission to read it)",
    "attempt to write a readonly database": "the database is read-only: give hubcli write access "
    "to the registry folder, or use another HUBCLI_HOME",
    "database or disk is full": "the disk is full: free space and run the command again "
    "(nothing was registered)",
    "disk i/o error": "the disk reported an I/O error: check the file system",
}
"""SQLite's words for a database that cannot be used → what the user can do about it."""


def _database_problem(exc: BaseException) -> str | None:
    text_ = str(exc).lower()
    return next((remedy for sign, remedy in DATABASE_PROBLEMS.items() if sign in text_), None)


def _prepare_home(home: Path, database: Path | None) -> None:
    """Create the registry folder, refusing a file where it or its database should be."""
    if home.exists() and not home.is_dir():
        raise RegistryUnavailable(
            f"{home}: the registry folder is a file: point HUBCLI_HOME (or --home) at a folder"
        )
    home.mkdir(parents=True, exist_ok=True)
    if database is not None and database.exists() and not database.is_file():
        raise RegistryUnavailable(f"{database}: the registry database is not a file: move it aside")


@contextlib.contextmanager
def _environment_errors(home: Path) -> Iterator[None]:
    """What the operating system refuses while a registry opens (no permission, read-only or
    full disk, a path through a file) as one line naming the folder."""
    try:
        yield
    except OSError as exc:
        raise RegistryUnavailable(
            f"{home}: cannot use the registry folder ({exc.strerror or exc}): "
            "check its permissions and free space, or point HUBCLI_HOME at another folder"
        ) from exc


class Registry:
    """A registry in ``home`` (blobs, staging) with its database at ``url`` or ``home``."""

    def __init__(self, home: Path, url: str | None = None) -> None:
        self.home = Path(home)
        self.url = url or URL.create("sqlite", database=str(self.home / "registry.db")).render_as_string()
        with _environment_errors(self.home):
            _prepare_home(self.home, None if url else self.home / "registry.db")
        self.engine = self._create_engine(self.url)
        event.listen(self.engine, "handle_error", self._database_error)
        self._refuse_unusable_database()
        with _environment_errors(self.home):
            self.store = BlobStore(self.home)
        with _environment_errors(self.home), self._file_lock("migrate.lock"), self.engine.begin() as conn:
            migrations.migrate(conn)

    @property
    def _database_name(self) -> str:
        """The database as errors name it: its file for SQLite, the URL without password else."""
        if self.url.startswith("sqlite"):
            return str(self.engine.url.database)
        return self.display_location

    def _refuse_unusable_database(self) -> None:
        """A damaged or foreign database is refused before anything is written: for SQLite
        through a read-only connection of its own, since the engine's first connection already
        switches the file to WAL mode."""
        if not self.url.startswith("sqlite"):
            with self.engine.connect() as conn:
                migrations.refuse_foreign(set(inspect(conn).get_table_names()), self._database_name)
            return
        path = Path(self._database_name)
        if not path.is_file():
            return
        try:
            with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
                tables = {
                    row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
        except sqlite3.DatabaseError as exc:
            problem = _database_problem(exc) or str(exc)
            raise RegistryUnavailable(f"{path}: {problem}") from exc
        migrations.refuse_foreign(tables, str(path))

    def _database_error(self, context: ExceptionContext) -> None:
        """Turn a database that cannot be used (damaged, not a database, read-only, full disk)
        into one line naming it; write conflicts pass through for ``_retrying``."""
        problem = _database_problem(context.original_exception)
        if problem is not None:
            raise RegistryUnavailable(f"{self._database_name}: {problem}") from context.original_exception

    @contextlib.contextmanager
    def _file_lock(self, name: str) -> Iterator[None]:
        """An exclusive lock between processes sharing this home (first-open migrations:
        SQLite cannot upgrade a stale read transaction, so concurrent openers must queue)."""
        with open(self.home / name, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _create_engine(url: str) -> Engine:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @property
    def display_location(self) -> str:
        """Where the registry lives, for humans (no password)."""
        if self.url.startswith("sqlite"):
            return str(self.home)
        return self.engine.url.render_as_string(hide_password=True)

    # -- adapters --------------------------------------------------------------------------

    def add_adapter(self, new: NewAdapter) -> AddResult:
        """Store the files and register the adapter in one transaction.

        Importing content that is already registered under the same name is a no-op
        (``created`` is False); a different adapter under a taken name is an error. The blobs
        are claimed before they are written, so no concurrent cleanup can take them away.
        """
        shas = {item.sha256 or sha256_file(item.source) for item in new.files}
        try:
            with self.store.claim(shas):
                stored = [(item, *self.store.put(item.source, item.sha256)) for item in new.files]
                return self._retrying(lambda: self._register(new, stored))
        except BaseException:
            self._discard_unregistered(shas)
            raise

    def _retrying(self, write: Callable[[], T]) -> T:
        """Run one write transaction, again after a conflict with a concurrent writer.

        SQLite in WAL mode cannot upgrade a read snapshot that another writer has outdated
        ("database is locked" at once, whatever the busy timeout), and concurrent inserts of
        the same blob or name violate a unique key: both resolve by running the transaction
        again on fresh data. Bounded, with jittered exponential backoff.
        """
        delay = 0.005
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return write()
            except (IntegrityError, OperationalError) as exc:
                if not _is_write_conflict(exc):
                    raise
                if attempt == WRITE_ATTEMPTS - 1:
                    raise RegistryError(
                        "the registry is busy (other hubcli processes are writing): try again"
                    ) from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")

    def _discard_unregistered(self, shas: set[str]) -> None:
        """Delete blobs written for a failed add that nothing registered or claims."""
        with self.session() as session:
            registered = set(session.exec(select(Blob.sha256).where(col(Blob.sha256).in_(shas))))
        self.store.delete(shas - registered - self.store.live_claims())

    def _register(self, new: NewAdapter, stored: list[tuple[NewFile, str, int]]) -> AddResult:
        digest = content_digest((item.path, sha) for item, sha, _ in stored)
        with self.session() as session:
            existing = session.exec(select(Adapter).where(Adapter.name == new.name)).first()
            if existing is not None:
                if existing.digest == digest:
                    return AddResult(existing, created=False)
                raise name_taken(new.name)
            known = set(
                session.exec(select(Blob.sha256).where(col(Blob.sha256).in_([s for _, s, _ in stored])))
            )
            for _, sha, size in stored:
                if sha not in known:
                    session.add(Blob(sha256=sha, size=size))
                    known.add(sha)
            fields = {key: value for key, value in vars(new).items() if key not in ("files", "tags")}
            adapter = Adapter(
                **fields,
                digest=digest,
                size_bytes=sum(size for _, _, size in stored),
            )
            adapter.search_text = search_text(adapter, new.tags)
            session.add(adapter)
            session.flush()
            adapter_id = adapter.id
            assert adapter_id is not None  # the flush assigned the primary key
            for item, sha, size in stored:
                session.add(
                    AdapterFile(adapter_id=adapter_id, path=item.path, role=item.role, sha256=sha, size=size)
                )
            for tag in sorted(set(new.tags)):
                session.add(Tag(adapter_id=adapter_id, name=tag))
            session.flush()
            checkpoint("before-commit")
            session.commit()
            checkpoint("after-commit")
            # A concurrent `rm` may have deleted a shared blob between our write and commit.
            for item, sha, _ in stored:
                if not self.store.exists(sha):
                    self.store.put(item.source)
            return AddResult(adapter, created=True)

    def find_by_digest(self, digest: str) -> Adapter | None:
        with self.session() as session:
            return session.exec(select(Adapter).where(Adapter.digest == digest)).first()

    def get_adapter(self, name: str) -> Adapter:
        with self.session() as session:
            adapter = session.exec(select(Adapter).where(Adapter.name == name)).first()
            if adapter is not None:
                return adapter
            close = session.exec(select(Adapter.name).where(col(Adapter.name).contains(name)).limit(3)).all()
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see `hubcli list`)"
        raise AdapterNotFound(f"no adapter named {name!r}{hint}")

    def list_adapters(
        self,
        *,
        architecture: str | None = None,
        base_model: str | None = None,
        tag: str | None = None,
        search: str | None = None,
        sort: str = "name",
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Adapter]:
        if sort not in SORT_COLUMNS:
            raise RegistryError(f"cannot sort by {sort!r}; choose one of {', '.join(SORT_COLUMNS)}")
        query = select(Adapter)
        if architecture:
            query = query.where(Adapter.architecture == architecture)
        if base_model:
            query = query.where(Adapter.base_model == base_model)
        if tag:
            query = query.where(col(Adapter.id).in_(select(Tag.adapter_id).where(Tag.name == tag)))
        if search:
            literal = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(col(Adapter.search_text).like(f"%{literal}%", escape="\\"))
        column = getattr(Adapter, sort)
        query = query.order_by(column.desc() if descending else column, Adapter.name)
        query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.session() as session:
            return list(session.exec(query))

    def count_adapters(self) -> int:
        with self.session() as session:
            return session.exec(select(func.count()).select_from(Adapter)).one()

    def files(self, adapter: Adapter) -> list[AdapterFile]:
        with self.session() as session:
            query = select(AdapterFile).where(AdapterFile.adapter_id == adapter.id)
            return list(session.exec(query.order_by(AdapterFile.path)))

    def file_path(self, file: AdapterFile) -> Path:
        """Where ``file``'s content is, checked against its size and sha256 first: every reader
        of adapter files (stitch, predict, eval, export, push, compare) goes through here, so a
        damaged blob stops the command with one line instead of being used."""
        return self.store.verified_path(file.sha256, file.size, lambda: self._file_label(file))

    def _file_label(self, file: AdapterFile) -> str:
        with self.session() as session:
            adapter = session.get(Adapter, file.adapter_id)
        owner = repr(adapter.name) if adapter is not None else f"#{file.adapter_id}"
        return f"adapter {owner}, file {file.path}"

    def tags(self, adapter: Adapter) -> list[str]:
        with self.session() as session:
            query = select(Tag.name).where(Tag.adapter_id == adapter.id).order_by(Tag.name)
            return list(session.exec(query))

    def tags_by_adapter(self, adapter_ids: Sequence[int]) -> dict[int, list[str]]:
        """Tags for many adapters in one query (for listings)."""
        result: dict[int, list[str]] = {i: [] for i in adapter_ids}
        with self.session() as session:
            rows = session.exec(
                select(Tag.adapter_id, Tag.name)
                .where(col(Tag.adapter_id).in_(adapter_ids))
                .order_by(Tag.name)
            )
            for adapter_id, name in rows:
                result[adapter_id].append(name)
        return result

    def set_tags(self, name: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
        adapter = self.get_adapter(name)
        return self._retrying(lambda: self._set_tags(adapter, set(add), set(remove)))

    def _set_tags(self, adapter: Adapter, add: set[str], remove: set[str]) -> list[str]:
        adapter_id = adapter.id
        assert adapter_id is not None  # a row read from the database
        with self.session() as session:
            current = set(session.exec(select(Tag.name).where(Tag.adapter_id == adapter_id)))
            for tag in sorted(add - current):
                session.add(Tag(adapter_id=adapter_id, name=tag))
            if remove:
                session.exec(delete(Tag).where(col(Tag.adapter_id) == adapter_id, col(Tag.name).in_(remove)))
            tags = sorted((current | add) - remove)
            row = _current_row(session, adapter)
            row.updated_at = utcnow()
            row.search_text = search_text(row, tags)
            session.commit()
        return tags

    def set_labels(self, name: str, labels: Sequence[str]) -> None:
        """Record the label names of an adapter's head (``hubcli eval`` matches datasets by them)."""
        adapter = self.get_adapter(name)

        def write() -> None:
            with self.session() as session:
                row = _current_row(session, adapter)
                row.labels = list(labels)
                row.updated_at = utcnow()
                session.commit()

        self._retrying(write)

    def remove_adapter(self, name: str) -> int:
        """Delete the adapter and every blob no other adapter uses; return blobs freed."""
        adapter = self.get_adapter(name)
        unused = self._retrying(lambda: self._remove(adapter))
        self.store.delete(unused - self.store.live_claims())
        return len(unused)

    def _remove(self, adapter: Adapter) -> set[str]:
        with self.session() as session:
            shas = set(session.exec(select(AdapterFile.sha256).where(AdapterFile.adapter_id == adapter.id)))
            for model in (AdapterFile, Tag, Evaluation, Remote):
                session.exec(delete(model).where(col(model.adapter_id) == adapter.id))
            session.exec(delete(Adapter).where(col(Adapter.id) == adapter.id))
            still_used = set(
                session.exec(select(AdapterFile.sha256).where(col(AdapterFile.sha256).in_(shas)))
            )
            unused = shas - still_used
            session.exec(delete(Blob).where(col(Blob.sha256).in_(unused)))
            session.commit()
        return unused

    # -- integrity -------------------------------------------------------------------------

    def cleanup(self) -> CleanupReport:
        """Remove what crashed writers left behind (temporary files, staging, orphan blobs)."""
        with self.session() as session:
            referenced = set(session.exec(select(Blob.sha256)))
        return self.store.cleanup(referenced)

    def verify(self) -> VerifyReport:
        """Re-hash every registered blob after cleaning up; report missing and corrupt ones."""
        report = self.cleanup()
        with self.session() as session:
            blobs = list(session.exec(select(Blob.sha256)))
        missing, corrupt = [], []
        for sha in blobs:
            path = self.store.path(sha)
            if not path.is_file():
                missing.append(sha)
            elif sha256_file(path) != sha:
                corrupt.append(sha)
        return VerifyReport(len(blobs), missing, corrupt, report)

    # -- evaluations, compositions, remotes ------------------------------------------------

    def add_evaluations(self, rows: Sequence[Evaluation]) -> None:
        with self.session() as session:
            session.add_all(rows)
            session.commit()

    def evaluations(
        self, *, adapter: Adapter | None = None, target: str | None = None, dataset: str | None = None
    ) -> list[Evaluation]:
        query = select(Evaluation)
        if adapter is not None:
            query = query.where(Evaluation.adapter_id == adapter.id)
        if target:
            query = query.where(Evaluation.target == target)
        if dataset:
            query = query.where(Evaluation.dataset == dataset)
        with self.session() as session:
            return list(session.exec(query.order_by(col(Evaluation.created_at), col(Evaluation.id))))

    def save_composition(self, composition: Composition) -> Composition:
        with self.session() as session:
            existing = session.exec(select(Composition).where(Composition.name == composition.name)).first()
            if existing is not None:
                raise name_taken(composition.name, "composition")
            session.add(composition)
            session.commit()
            return composition

    def compositions(self) -> list[Composition]:
        with self.session() as session:
            return list(session.exec(select(Composition).order_by(Composition.name)))

    def add_remote(self, remote: Remote) -> Remote:
        with self.session() as session:
            session.add(remote)
            session.commit()
            return remote

    def remotes(self, adapter: Adapter) -> list[Remote]:
        with self.session() as session:
            query = select(Remote).where(Remote.adapter_id == adapter.id).order_by(col(Remote.pushed_at))
            return list(session.exec(query))


def default_home() -> Path:
    """``HUBCLI_HOME``, else the user data directory."""
    if env := os.environ.get("HUBCLI_HOME"):
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("hubcli", appauthor=False)


def open_registry(home: Path | None = None, url: str | None = None) -> Registry:
    """Open (creating and migrating if needed) the registry the environment points at."""
    return Registry(home or default_home(), url or os.environ.get("HUBCLI_DATABASE_URL") or None)

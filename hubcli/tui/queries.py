"""Read queries the TUI needs and ``Registry`` does not offer yet: group counts.

They use the registry's public schema and session, aggregate in SQL, and cap the number of
groups, so the side panel costs the same with 100 or 100,000 adapters.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select

from registry import Adapter, Registry, Tag

MAX_GROUPS = 200


@dataclass(frozen=True)
class GroupCounts:
    """Per grouping, (value, number of adapters) pairs, largest first."""

    base_model: list[tuple[str, int]]
    architecture: list[tuple[str, int]]
    tag: list[tuple[str, int]]


def group_counts(registry: Registry, limit: int = MAX_GROUPS) -> GroupCounts:
    def top(column, *where):  # type: ignore[no-untyped-def]
        count = func.count().label("n")
        query = select(column, count).where(*where).group_by(column)
        return [(value, n) for value, n in session.exec(query.order_by(count.desc(), column).limit(limit))]

    with registry.session() as session:
        return GroupCounts(
            base_model=top(Adapter.base_model, Adapter.base_model.is_not(None)),
            architecture=top(Adapter.architecture),
            tag=top(Tag.name),
        )

"""The registry's tables as SQLModel classes.

The database is created and evolved by the numbered migrations in ``registry.migrations``;
these classes describe the *current* schema for queries. ``tests/test_registry.py`` checks that
migrating an empty database yields exactly these tables and columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Adapter(SQLModel, table=True):
    """One registered adapter: its metadata; its files are ``AdapterFile`` rows."""

    __tablename__ = "adapter"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    architecture: str = Field(index=True)
    variant: str | None = None
    method_config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    format: str
    base_model: str | None = Field(default=None, index=True)
    model_type: str | None = None
    hidden_size: int | None = None
    task: str | None = None
    labels: list[str] | None = Field(default=None, sa_column=Column(JSON))
    num_parameters: int = 0
    size_bytes: int = 0
    digest: str = Field(index=True)
    source_kind: str
    source: str
    source_revision: str | None = None
    source_commit: str | None = None
    license: str | None = None
    description: str | None = None
    search_text: str = ""
    """Lower-cased name, base model, task, description and tags, kept in step by the registry
    (one column for substring search)."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Blob(SQLModel, table=True):
    """A content-addressed file in the blob store, stored once whatever refers to it."""

    __tablename__ = "blob"

    sha256: str = Field(primary_key=True)
    size: int
    created_at: datetime = Field(default_factory=utcnow)


class AdapterFile(SQLModel, table=True):
    """A file of an adapter (its relative path inside the adapter folder) pointing at a blob."""

    __tablename__ = "adapter_file"
    __table_args__ = (UniqueConstraint("adapter_id", "path"),)

    id: int | None = Field(default=None, primary_key=True)
    adapter_id: int = Field(foreign_key="adapter.id", index=True, ondelete="CASCADE")
    path: str
    role: str
    sha256: str = Field(foreign_key="blob.sha256", index=True)
    size: int


class Tag(SQLModel, table=True):
    __tablename__ = "tag"

    adapter_id: int = Field(foreign_key="adapter.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(primary_key=True, index=True)


class Evaluation(SQLModel, table=True):
    """One metric of one evaluation run of a target (an adapter, a composition or a recipe)."""

    __tablename__ = "evaluation"

    id: int | None = Field(default=None, primary_key=True)
    adapter_id: int | None = Field(default=None, foreign_key="adapter.id", index=True, ondelete="CASCADE")
    target: str = Field(index=True)
    base_model: str | None = None
    dataset: str = Field(index=True)
    dataset_fingerprint: str | None = None
    split: str | None = None
    task: str | None = None
    metric: str
    value: float
    n: int = 0
    hubcli_version: str | None = None
    device: str | None = None
    dtype: str | None = None
    extra: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class Composition(SQLModel, table=True):
    """A saved stitch recipe: a base model and a composition spec over registered adapters."""

    __tablename__ = "composition"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    base_model: str
    spec: str
    spec_json: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    description: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Remote(SQLModel, table=True):
    """A push of an adapter to a hub repository."""

    __tablename__ = "remote"

    id: int | None = Field(default=None, primary_key=True)
    adapter_id: int = Field(foreign_key="adapter.id", index=True, ondelete="CASCADE")
    endpoint: str
    repo_id: str
    revision: str
    commit_sha: str
    format: str
    pushed_at: datetime = Field(default_factory=utcnow)

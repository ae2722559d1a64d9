"""The first schema: adapters, their files and blobs, tags, evaluations, compositions, remotes."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection

VERSION = 1

meta = MetaData()

Table(
    "adapter",
    meta,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True, index=True),
    Column("architecture", String, nullable=False, index=True),
    Column("variant", String),
    Column("method_config", JSON, nullable=False),
    Column("format", String, nullable=False),
    Column("base_model", String, index=True),
    Column("model_type", String),
    Column("hidden_size", Integer),
    Column("task", String),
    Column("labels", JSON),
    Column("num_parameters", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("digest", String, nullable=False, index=True),
    Column("source_kind", String, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_revision", String),
    Column("source_commit", String),
    Column("license", String),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Table(
    "blob",
    meta,
    Column("sha256", String, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Table(
    "adapter_file",
    meta,
    Column("id", Integer, primary_key=True),
    Column("adapter_id", Integer, ForeignKey("adapter.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("path", String, nullable=False),
    Column("role", String, nullable=False),
    Column("sha256", String, ForeignKey("blob.sha256"), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    UniqueConstraint("adapter_id", "path"),
)
Table(
    "tag",
    meta,
    Column("adapter_id", Integer, ForeignKey("adapter.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String, primary_key=True, index=True),
)
Table(
    "evaluation",
    meta,
    Column("id", Integer, primary_key=True),
    Column("adapter_id", Integer, ForeignKey("adapter.id", ondelete="CASCADE"), index=True),
    Column("target", String, nullable=False, index=True),
    Column("base_model", String),
    Column("dataset", String, nullable=False, index=True),
    Column("dataset_fingerprint", String),
    Column("split", String),
    Column("task", String),
    Column("metric", String, nullable=False),
    Column("value", Float, nullable=False),
    Column("n", Integer, nullable=False),
    Column("hubcli_version", String),
    Column("device", String),
    Column("dtype", String),
    Column("extra", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Table(
    "composition",
    meta,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True, index=True),
    Column("base_model", String, nullable=False),
    Column("spec", Text, nullable=False),
    Column("spec_json", JSON, nullable=False),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Table(
    "remote",
    meta,
    Column("id", Integer, primary_key=True),
    Column("adapter_id", Integer, ForeignKey("adapter.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("endpoint", String, nullable=False),
    Column("repo_id", String, nullable=False),
    Column("revision", String, nullable=False),
    Column("commit_sha", String, nullable=False),
    Column("format", String, nullable=False),
    Column("pushed_at", DateTime(timezone=True), nullable=False),
)


def upgrade(conn: Connection) -> None:
    meta.create_all(conn)

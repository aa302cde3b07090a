"""The tables, in SQLAlchemy Core: one schema for SQLite and PostgreSQL.

``calls``: one row per call, the whole record as JSON plus the fields people filter and sort
on as columns of their own (indexed). ``call_tools``: one row per tool call, for the studio's
overview (the busiest tools and their failures) without reading every record.
``flow_versions``: every version of a flow file the studio saved or the engine loaded, so
a call links to the exact text it ran. ``call_claims``: which replica answers which call,
when several share one PostgreSQL (``claims.py``). Changes go through a migration in
``migrations/versions/``, never ``create_all``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

__all__ = ["call_claims", "call_tools", "calls", "flow_versions", "metadata"]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out. SQLite keeps no zone, so every time
    is stored as UTC and read back as UTC (and compares as text in the right order)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # A naive time is taken as UTC (the record's contract is aware UTC times).
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("call_id", String(128), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),
    Column("flow_file", String(1024)),
    Column("flow_name", String(256)),
    Column("to_number", String(64)),
    Column("from_number", String(64)),
    Column("outcome", String(32)),
    Column("ended_how", String(64)),
    Column("replica", String(256)),
    Column("record", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    # When this row was last written: a record is written when decided and again when ended.
    Column("written_at", UtcDateTime(), nullable=False),
    Index("ix_calls_received_at", "received_at"),
    Index("ix_calls_flow_name", "flow_name", "received_at"),
    Index("ix_calls_to_number", "to_number", "received_at"),
    Index("ix_calls_from_number", "from_number", "received_at"),
    Index("ix_calls_outcome", "outcome", "received_at"),
    # The overview's counts per flow, day and outcome, from the index alone (migration 0003).
    Index("ix_calls_day", "received_at", "flow_name", "outcome"),
)

call_claims = Table(
    "call_claims",
    metadata,
    Column("call_id", String(128), primary_key=True),
    Column("replica", String(256), nullable=False),
    # answering: the replica is deciding and accepting, under its lease; answered: done
    # (accepted or rejected), the call is that replica's for good.
    Column("state", String(16), nullable=False),
    Column("lease_until", UtcDateTime(), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Index("ix_call_claims_claimed_at", "claimed_at"),
)

call_tools = Table(
    "call_tools",
    metadata,
    Column("call_id", String(128), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),  # the call's nth tool call
    Column("received_at", UtcDateTime(), nullable=False),  # the call's, to filter by day
    Column("flow_name", String(256)),
    Column("tool", String(256), nullable=False),
    Column("outcome", String(32)),
    Column("duration_ms", Float),
    Index("ix_call_tools_received_at", "received_at"),
    Index("ix_call_tools_tool", "tool", "received_at"),
    Index("ix_call_tools_day", "received_at", "tool", "outcome", "duration_ms"),
)

flow_versions = Table(
    "flow_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The file as the studio names it: its path relative to the flows folder.
    Column("flow_file", String(1024), nullable=False),
    # The first 12 hex digits of the text's SHA-256: FlowSnapshot.version, CallRecord.flow_version.
    Column("version", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("saved_by", String(256), nullable=False),  # a studio user, or "file on disk"
    Column("saved_at", UtcDateTime(), nullable=False),
    Column("how", String(16), nullable=False),  # saved | restored | loaded (edited outside)
    Column("based_on", String(16)),  # the version the editor started from
    Index("ix_flow_versions_file", "flow_file", "saved_at"),
    Index("ix_flow_versions_version", "flow_file", "version"),
)

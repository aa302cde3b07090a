"""Reading and writing the ``calls`` table (and ``call_tools``, one row per tool call of each
record, written with it): upsert a batch of records, fetch one, list a page of summaries,
prune the old. Every statement runs under a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from .query import CallQuery, Cursor
from .record import CallRecord
from .schema import call_claims, call_tools, calls
from .storable import Serialized, json_serializer, plain, storable_text

__all__ = ["CallStore", "CallSummary"]

_PRUNE_CHUNK = 5_000
_ROWS_BETWEEN_YIELDS = 10
# Each text column's length: longer values are cut there (the record's JSON keeps them whole).
_LENGTH = {c.name: getattr(c.type, "length", None) or 0 for c in calls.columns}
_TOOL_LENGTH = {c.name: getattr(c.type, "length", None) or 0 for c in call_tools.columns}


@dataclass(frozen=True)
class CallSummary:
    """One line of `engine calls`: what the indexed columns say."""

    call_id: str
    received_at: datetime
    ended_at: datetime | None
    flow_name: str | None
    flow_file: str | None
    from_number: str | None
    to_number: str | None
    outcome: str | None
    ended_how: str | None
    replica: str | None

    @property
    def duration_s(self) -> float | None:
        if self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.received_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "received_at": self.received_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_s": self.duration_s,
            "flow_name": self.flow_name,
            "flow_file": self.flow_file,
            "from_number": self.from_number,
            "to_number": self.to_number,
            "outcome": self.outcome,
            "ended_how": self.ended_how,
            "replica": self.replica,
        }


_SUMMARY_COLUMNS = (
    calls.c.call_id,
    calls.c.received_at,
    calls.c.ended_at,
    calls.c.flow_name,
    calls.c.flow_file,
    calls.c.from_number,
    calls.c.to_number,
    calls.c.outcome,
    calls.c.ended_how,
    calls.c.replica,
)


class CallStore:
    def __init__(self, engine: AsyncEngine, timeout_s: float = 5.0) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    # -- writing --------------------------------------------------------------------------
    def row(self, record: CallRecord, replica: str | None, now: datetime) -> dict[str, Any]:
        data = plain(record)  # record.to_dict(), faster
        if not data.get("replica"):
            data["replica"] = replica
        return {
            "call_id": storable_text(record.call_id, _LENGTH["call_id"]),
            "received_at": record.received_at,
            "ended_at": record.ended_at,
            "flow_file": storable_text(record.flow_file, _LENGTH["flow_file"]),
            "flow_name": storable_text(record.flow_name, _LENGTH["flow_name"]),
            "to_number": storable_text(record.to_number, _LENGTH["to_number"]),
            "from_number": storable_text(record.from_number, _LENGTH["from_number"]),
            "outcome": storable_text(
                record.outcome.value if record.outcome else None, _LENGTH["outcome"]
            ),
            "ended_how": storable_text(record.ended_how, _LENGTH["ended_how"]),
            "replica": storable_text(data["replica"], _LENGTH["replica"]),
            "record": Serialized(json_serializer(data)),
            "written_at": now,
        }

    def tool_rows(self, record: CallRecord) -> list[dict[str, Any]]:
        """The record's tool calls as ``call_tools`` rows (for the studio's overview)."""
        call_id = storable_text(record.call_id, _LENGTH["call_id"])
        flow_name = storable_text(record.flow_name, _TOOL_LENGTH["flow_name"])
        return [
            {
                "call_id": call_id,
                "seq": seq,
                "received_at": record.received_at,
                "flow_name": flow_name,
                "tool": storable_text(tool.name, _TOOL_LENGTH["tool"]) or "",
                "outcome": storable_text(tool.outcome, _TOOL_LENGTH["outcome"]),
                "duration_ms": tool.duration_ms,
            }
            for seq, tool in enumerate(record.tools)
        ]

    async def upsert(self, records: Sequence[CallRecord], replica: str | None = None) -> None:
        """Write ``records``, each replacing any earlier version of its call (its tool rows
        too, in the same transaction)."""
        now = datetime.now(UTC)
        rows: dict[str, dict[str, Any]] = {}  # a call's last record only
        tools: dict[str, list[dict[str, Any]]] = {}
        for i, record in enumerate(records, 1):
            rows[record.call_id] = self.row(record, replica, now)
            tools[record.call_id] = self.tool_rows(record)
            if i % _ROWS_BETWEEN_YIELDS == 0:
                # Making a row is most of a write's work, and it runs on the engine's event
                # loop: the calls run between every few rows, not after the whole batch.
                await asyncio.sleep(0)
        if not rows:
            return
        statement = self._insert(calls)
        statement = statement.on_conflict_do_update(
            index_elements=[calls.c.call_id],
            set_={c.name: statement.excluded[c.name] for c in calls.columns if not c.primary_key},
        )
        tool_rows = [row for call in tools.values() for row in call]
        keys = [row["call_id"] for row in rows.values()]
        async with asyncio.timeout(self.timeout_s), self.engine.begin() as connection:
            await connection.execute(statement, list(rows.values()))
            await connection.execute(delete(call_tools).where(call_tools.c.call_id.in_(keys)))
            if tool_rows:
                await connection.execute(call_tools.insert(), tool_rows)

    async def probe(self) -> None:
        """Raises unless the database answers and has the ``calls`` table."""
        async with asyncio.timeout(self.timeout_s), self.engine.connect() as connection:
            await connection.execute(select(literal(1)).select_from(calls).limit(0))

    async def prune(self, before: datetime) -> int:
        """Delete the calls received before ``before``, and their tool rows (in chunks, so a
        long backlog never holds the table for long); how many calls went."""
        gone = await self._prune(calls, calls.c.call_id, calls.c.received_at, before)
        await self._prune(call_tools, call_tools.c.call_id, call_tools.c.received_at, before)
        return gone

    async def prune_claims(self, before: datetime) -> int:
        column = call_claims.c.claimed_at
        return await self._prune(call_claims, call_claims.c.call_id, column, before)

    async def _prune(self, table: Any, key: Any, when: Any, before: datetime) -> int:
        total = 0
        while True:
            chunk = select(key).where(when < before).limit(_PRUNE_CHUNK).scalar_subquery()
            async with asyncio.timeout(self.timeout_s * 4), self.engine.begin() as connection:
                result = await connection.execute(delete(table).where(key.in_(chunk)))
            total += result.rowcount or 0
            if (result.rowcount or 0) < _PRUNE_CHUNK:
                return total

    # -- reading --------------------------------------------------------------------------
    async def get(self, call_id: str) -> CallRecord | None:
        statement = select(calls.c.record).where(calls.c.call_id == call_id)
        async with asyncio.timeout(self.timeout_s), self.engine.connect() as connection:
            data = (await connection.execute(statement)).scalar_one_or_none()
        return None if data is None else CallRecord.from_dict(data)

    async def find(self, query: CallQuery) -> tuple[list[CallSummary], Cursor | None]:
        """A page of calls, newest first, and where the next page starts (None: last)."""
        statement = _filtered(select(*_SUMMARY_COLUMNS), query)
        statement = statement.order_by(calls.c.received_at.desc(), calls.c.call_id.desc())
        async with asyncio.timeout(self.timeout_s), self.engine.connect() as connection:
            rows = (await connection.execute(statement.limit(query.limit + 1))).all()
        page = [CallSummary(*row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return page, Cursor(page[-1].received_at, page[-1].call_id) if more else None

    async def count(self) -> int:
        async with asyncio.timeout(self.timeout_s), self.engine.connect() as connection:
            return int(
                (await connection.execute(select(func.count()).select_from(calls))).scalar_one()
            )


def _like_suffix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%/" + escaped


def _filtered(statement: Select[Any], query: CallQuery) -> Select[Any]:
    if query.flow:
        statement = statement.where(
            or_(
                calls.c.flow_name == query.flow,
                calls.c.flow_file == query.flow,
                calls.c.flow_file.like(_like_suffix(query.flow), escape="\\"),
            )
        )
    if query.number:
        statement = statement.where(
            or_(calls.c.to_number == query.number, calls.c.from_number == query.number)
        )
    if query.outcome:
        statement = statement.where(calls.c.outcome == query.outcome)
    if query.since:
        statement = statement.where(calls.c.received_at >= query.since)
    if query.until:
        statement = statement.where(calls.c.received_at < query.until)
    if query.before:
        at, call_id = query.before.received_at, query.before.call_id
        statement = statement.where(
            or_(
                calls.c.received_at < at,
                and_(calls.c.received_at == at, calls.c.call_id < call_id),
            )
        )
    return statement

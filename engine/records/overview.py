"""Counts over many calls, done by the database (GROUP BY over the indexed columns, never by
loading records): calls per flow per UTC day by outcome, and the busiest tools with their
failures (from ``call_tools``). The studio's overview page shows them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .schema import call_tools, calls

__all__ = ["FAILED_TOOL_OUTCOMES", "CallCount", "ToolUse", "busy_tools", "calls_per_day"]

# A tool call that did not give the model its answer: the service failed or was too slow,
# or the engine refused to run it.
FAILED_TOOL_OUTCOMES = ("failed", "timeout", "refused")


@dataclass(frozen=True)
class CallCount:
    flow_name: str | None
    day: str  # YYYY-MM-DD, UTC
    outcome: str | None  # None: not ended yet
    calls: int


@dataclass(frozen=True)
class ToolUse:
    tool: str
    uses: int
    failures: int  # FAILED_TOOL_OUTCOMES
    mean_ms: float | None  # of the tool calls that reached a service

    @property
    def failure_rate(self) -> float:
        return self.failures / self.uses if self.uses else 0.0


def _utc_day(engine: AsyncEngine, column: Any) -> Any:
    """The UTC day of a time column, as YYYY-MM-DD text, computed by the database."""
    if engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite keeps UTC times as 'YYYY-MM-DD HH:MM:SS…'


async def calls_per_day(
    engine: AsyncEngine, since: datetime, until: datetime, timeout_s: float = 5.0
) -> list[CallCount]:
    """How many calls each flow had on each UTC day in [since, until), by outcome."""
    day = _utc_day(engine, calls.c.received_at).label("day")
    statement = (
        select(calls.c.flow_name, day, calls.c.outcome, func.count().label("n"))
        .where(calls.c.received_at >= since, calls.c.received_at < until)
        .group_by(calls.c.flow_name, day, calls.c.outcome)
    )
    async with asyncio.timeout(timeout_s), engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return [CallCount(r[0], str(r[1]), r[2], int(r[3])) for r in rows]


async def busy_tools(
    engine: AsyncEngine, since: datetime, until: datetime, limit: int = 10, timeout_s: float = 5.0
) -> list[ToolUse]:
    """The tools called most in [since, until), with how many of their calls failed."""
    failed = func.sum(case((call_tools.c.outcome.in_(FAILED_TOOL_OUTCOMES), 1), else_=0))
    uses = func.count().label("uses")
    statement = (
        select(call_tools.c.tool, uses, failed, func.avg(call_tools.c.duration_ms))
        .where(call_tools.c.received_at >= since, call_tools.c.received_at < until)
        .group_by(call_tools.c.tool)
        .order_by(uses.desc(), call_tools.c.tool)
        .limit(limit)
    )
    async with asyncio.timeout(timeout_s), engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return [
        ToolUse(str(r[0]), int(r[1]), int(r[2] or 0), float(r[3]) if r[3] is not None else None)
        for r in rows
    ]

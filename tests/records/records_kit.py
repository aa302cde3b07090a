"""Helpers of the records tests: real databases: a SQLite file in the test's folder, and a
PostgreSQL database of the test's own (created on the server at 127.0.0.1:5432, or
``TEST_POSTGRES_URL``, and dropped after), skipped with a reason where none is running.

``TcpGate`` stands between the engine and PostgreSQL on a loopback port, so a test can take
the database away and bring it back, as a network or a restart would.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url

from engine.records import (
    CallOutcome,
    CallRecord,
    Step,
    ToolCall,
    TranscriptLine,
    TransferTry,
)
from engine.records.settings import RecordsSettings, database_url

ADMIN_URLS = (
    [os.environ["TEST_POSTGRES_URL"]]
    if os.environ.get("TEST_POSTGRES_URL")
    else [
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgresql://root@127.0.0.1:5432/test",
    ]
)


async def _try_connect(dsn: str) -> str | None:
    import asyncpg

    try:
        connection = await asyncpg.connect(dsn, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return None


@functools.cache
def postgres_admin() -> tuple[str | None, str]:
    """A DSN that may create databases, or None and why not."""
    reasons = []
    for dsn in ADMIN_URLS:
        why = asyncio.run(_try_connect(dsn))
        if why is None:
            return dsn, ""
        reasons.append(f"{make_url(dsn).render_as_string(hide_password=True)}: {why}")
    return None, "; ".join(reasons)


def needs_postgres() -> str:
    dsn, why = postgres_admin()
    if dsn is None:
        pytest.skip(f"no PostgreSQL reachable for the records tests ({why})")
    return dsn


async def _admin(dsn: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[URL]:
    """A fresh, empty database of this test's own on the PostgreSQL server; dropped after."""
    admin = needs_postgres()
    name = f"engine_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(make_url(admin).set(database=name).render_as_string(False))
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def settings_for(url: URL, **overrides: Any) -> RecordsSettings:
    return RecordsSettings(url=url, replica="test-replica", **overrides)


T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def make_record(
    call_id: str = "rtc_test_1",
    *,
    at: datetime = T0,
    ended: bool = True,
    flow: str = "acme-support",
    to_number: str = "+18005551212",
    from_number: str = "+14155550100",
    outcome: CallOutcome | None = CallOutcome.TRANSFERRED,
    **fields: Any,
) -> CallRecord:
    """A record as the recorder writes one: a call to the Acme line sent to billing."""

    def t(seconds: float) -> datetime:
        return at + timedelta(seconds=seconds)

    values: dict[str, Any] = dict(
        call_id=call_id,
        received_at=at,
        from_number=from_number,
        to_number=to_number,
        headers={"X-Twilio-CallSid": "CA0123"},
        flow_file=f"flows/{flow}.yaml",
        flow_name=flow,
        flow_version="3f2a9c01d4e7",
        answered_at=t(0.4),
        states=[Step(t(0.4), "state", "entered start")],
        keys=[Step(t(3.0), "key", "pressed 1", {"digit": "1"})],
        tools=[
            ToolCall(
                name="lookup_order",
                started_at=t(4.0),
                arguments={"order": "A-17"},
                outcome="ok",
                answer='{"status": "shipped"}',
                http_status=200,
                duration_ms=123.4,
            )
        ],
        transfers=[TransferTry("sip:+15551230000@sip.acme.example", t(9.0), "took")],
        timeline=[
            Step(t(0.0), "decision", "accepted with flow acme-support"),
            Step(t(0.4), "state", "entered start"),
            Step(t(1.0), "said", "Thanks for calling Acme."),
            Step(t(2.0), "heard", "Where is my order?"),
            Step(t(4.0), "tool", "lookup_order answered 200 in 123 ms"),
            Step(t(9.0), "transfer", "REFER to sip:+15551230000@sip.acme.example: took"),
        ],
        transcript=[
            TranscriptLine(t(1.0), "agent", "Thanks for calling Acme."),
            TranscriptLine(t(2.0), "caller", "Where is my order?"),
        ],
        replica=None,
    )
    if ended:
        values.update(ended_at=t(10.0), ended_how="transferred", outcome=outcome)
    values.update(fields)
    return CallRecord(**values)


class TcpGate:
    """A loopback TCP forwarder to ``target``: ``close()`` cuts every connection and
    refuses new ones (the database is "down"), ``open()`` lets them through again on the
    same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._writers -= {writer, up_writer}

    def url(self, url: URL) -> URL:
        return url.set(host="127.0.0.1", port=self.port)

"""Exactly one replica answers a call, however OpenAI's deliveries and retries of its
webhook are spread over the replicas sharing one PostgreSQL.

The first replica to insert the call id into ``call_claims`` (``INSERT … ON CONFLICT``)
answers it; the row holds a lease, renewed while that replica decides and accepts, and
becomes ``answered`` once the webhook is answered (accepted or rejected). Another replica
that gets a delivery of the call meanwhile waits for the claim to settle: answered → 200
(nothing to do); released (the holder answered 5xx, so OpenAI delivers again) or a lease
that ran out (the holder died before accepting) → it takes the claim and answers itself.

When the database does not answer within ``timeout_s``, the replica answers the call on its
own, as a single engine would: a call is never refused because the shared database is down
(the price: a delivery that reaches another replica in that window may be answered twice).

With SQLite there is one replica, and the in-process guard of ``engine/server.py`` is the
whole story: ``service.LocalClaims`` says yes at once.

A claim is on the call's way to its accept, so it is made as cheaply as PostgreSQL allows:
the statements are SQLAlchemy Core's (the schema's one definition), compiled once for
asyncpg and run on connections of the claims' own (``QuickPool``), not through
SQLAlchemy's engine, whose work per statement cost more than the round trip; and commits
do not wait for the disk (``synchronous_commit = off``), which was 3 ms of 3.5 on a test
machine. A crash of the database may lose the last fraction of a second of claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import ARRAY, Float, String, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL

from .database import describe_error
from .quickpool import QuickPool
from .schema import call_claims

__all__ = ["ANSWERED_ELSEWHERE", "BUSY_ELSEWHERE", "SharedClaims"]

log = logging.getLogger("engine.records")

ANSWERED_ELSEWHERE = 200  # another replica answered the call: nothing left to do
BUSY_ELSEWHERE = 503  # another replica is still answering it: deliver again later
_POLL_S = 0.05
_REPORT_EVERY_S = 60.0

_c = call_claims.c
_LEASE = func.make_interval(0, 0, 0, 0, 0, 0, bindparam("lease", type_=Float()))
_TAKE = (
    insert(call_claims)
    .values(
        call_id=bindparam("claim_id"),
        replica=bindparam("holder"),
        state="answering",
        lease_until=func.now() + _LEASE,
        claimed_at=func.now(),
    )
    .on_conflict_do_update(
        index_elements=[_c.call_id],
        set_={
            "replica": bindparam("holder"),
            "state": "answering",
            "lease_until": func.now() + _LEASE,
            "claimed_at": func.now(),
        },
        # Only a claim whose holder stopped renewing it before answering is taken over.
        where=and_(_c.state == "answering", _c.lease_until < func.now()),
    )
    .returning(_c.replica)
)
_STATE = select(_c.state).where(_c.call_id == bindparam("claim_id"))
_ANSWERED = (
    update(call_claims)
    .where(_c.call_id == bindparam("claim_id"), _c.replica == bindparam("holder"))
    .values(state="answered")
)
_RELEASE = delete(call_claims).where(
    _c.call_id == bindparam("claim_id"),
    _c.replica == bindparam("holder"),
    _c.state == "answering",
)
_RENEW = (
    update(call_claims)
    .where(
        _c.replica == bindparam("holder"),
        _c.state == "answering",
        _c.call_id == func.any(bindparam("claim_ids", type_=ARRAY(String()))),
    )
    .values(lease_until=func.now() + _LEASE)
)


class _Statement:
    """A Core statement compiled for asyncpg: its SQL and its parameters' order."""

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=asyncpg_dialect.dialect())
        self.sql = str(compiled)
        self.names = list(compiled.positiontup or ())
        self.values = dict(compiled.params)  # the statement's own ('answering', 0, …)

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[n] if n in params else self.values[n] for n in self.names]


_STATEMENTS = {
    name: _Statement(statement)
    for name, statement in {
        "take": _TAKE,
        "state": _STATE,
        "answered": _ANSWERED,
        "release": _RELEASE,
        "renew": _RENEW,
    }.items()
}


class SharedClaims:
    """Claims in the shared PostgreSQL. ``claim`` before answering a call; ``settle`` with
    the webhook's status after."""

    def __init__(
        self,
        url: URL,
        replica: str,
        *,
        lease_s: float = 10.0,
        timeout_s: float = 2.0,
        wait_s: float = 15.0,
        connections: int = 10,
    ) -> None:
        self.url = url
        self.replica = replica
        self.lease_s = lease_s
        self.timeout_s = timeout_s
        self.wait_s = wait_s
        # Connected as used: a database that is down at start delays nothing.
        _, options = asyncpg_dialect.dialect().create_connect_args(url)
        self._pool = QuickPool(
            connections,
            **options,
            timeout=timeout_s,  # connecting
            command_timeout=timeout_s,
            server_settings={"application_name": "engine-claims", "synchronous_commit": "off"},
        )
        self._held: set[str] = set()
        self._keeper: asyncio.Task[None] | None = None
        self._next_report = 0.0
        self.unavailable = 0  # calls answered without a claim: the database did not answer

    async def _run(self, name: str, params: dict[str, Any], fetch: bool = False) -> Any:
        statement = _STATEMENTS[name]
        connection = await self._pool.take()
        try:
            run = connection.fetchval if fetch else connection.execute
            result = await run(statement.sql, *statement.args(params))
        except BaseException:
            self._pool.give(connection, broken=True)
            raise
        self._pool.give(connection)
        return result

    async def claim(self, call_id: str) -> int | None:
        """None: this replica answers the call. Otherwise the status to answer the webhook
        with, without answering the call: ``ANSWERED_ELSEWHERE`` or ``BUSY_ELSEWHERE``."""
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                async with asyncio.timeout(self.timeout_s):
                    state = await self._take(call_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._unavailable(exc)
                return None
            if state is None:
                self._held.add(call_id)
                return None
            if state == "answered":
                return ANSWERED_ELSEWHERE
            if time.monotonic() >= deadline:
                log.warning(
                    "another replica is still answering this call after %g s; 503 so "
                    "OpenAI delivers again",
                    self.wait_s,
                    extra={"call_id": call_id},
                )
                return BUSY_ELSEWHERE
            await asyncio.sleep(_POLL_S)

    async def _take(self, call_id: str) -> str | None:
        """None: taken. Otherwise the state of someone else's claim (``answering``,
        ``answered``; ``released`` if it went while we looked)."""
        params = {"claim_id": call_id, "holder": self.replica, "lease": self.lease_s}
        if await self._run("take", params, fetch=True) is not None:
            return None
        state = await self._run("state", params, fetch=True)
        return str(state) if state else "released"

    async def settle(self, call_id: str, status: int) -> None:
        """After the webhook's answer: below 500 the call is this replica's for good;
        5xx releases it, so OpenAI's next delivery can be answered by any replica."""
        if call_id not in self._held:
            return
        self._held.discard(call_id)
        params = {"claim_id": call_id, "holder": self.replica}
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._run("answered" if status < 500 else "release", params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Unsettled, the lease runs out: a later delivery may then be answered again.
            self._unavailable(exc, a_call=False)

    def _unavailable(self, exc: BaseException, *, a_call: bool = True) -> None:
        self.unavailable += a_call
        now = time.monotonic()
        if now >= self._next_report:
            self._next_report = now + _REPORT_EVERY_S
            log.warning(
                "call claims: the database is not answering (%s); this replica answers its "
                "deliveries on its own until it does (%d so far)",
                describe_error(exc),
                self.unavailable,
            )

    # -- the lease keeper -----------------------------------------------------------------
    def start(self) -> None:
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep(), name="call-claims-lease")

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        await self._pool.close()

    async def _keep(self) -> None:
        """Renew the leases of the claims still being answered, a third of a lease apart."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if not self._held:
                continue
            params = {"holder": self.replica, "lease": self.lease_s, "claim_ids": list(self._held)}
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self._run("renew", params)
            except Exception as exc:
                self._unavailable(exc, a_call=False)

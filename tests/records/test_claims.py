"""Claims on a real PostgreSQL, two replicas' worth: the first claim answers, the other
waits for it to settle (answered: 200; released on a 5xx: it takes over), a lease that runs
out unrenewed (a replica that died before accepting) is taken over, a renewed one is not,
and a database that does not answer lets the replica answer on its own."""

from __future__ import annotations

import asyncio

from records_kit import TcpGate
from sqlalchemy import select

from engine.records.claims import ANSWERED_ELSEWHERE, BUSY_ELSEWHERE, SharedClaims
from engine.records.database import open_database
from engine.records.migrate import upgrade
from engine.records.schema import call_claims


def on_claims(url, body):
    async def main():
        database = open_database(url)
        await upgrade(database)

        made = []

        def replica(name, **options):
            made.append(SharedClaims(url, name, **options))
            return made[-1]

        async def row(call_id):
            async with database.connect() as connection:
                found = await connection.execute(
                    select(call_claims.c.replica, call_claims.c.state).where(
                        call_claims.c.call_id == call_id
                    )
                )
                return found.first()

        try:
            await body(replica, row)
        finally:
            for claims in made:
                await claims.stop()
            await database.dispose()

    asyncio.run(main())


def test_the_first_claim_answers_and_the_other_replica_learns_it_was_answered(pg_url):
    async def body(replica, row):
        a, b = replica("a"), replica("b", wait_s=0.3)
        assert await a.claim("rtc_1") is None
        assert await b.claim("rtc_1") == BUSY_ELSEWHERE  # a is still answering
        await a.settle("rtc_1", 200)
        assert tuple(await row("rtc_1")) == ("a", "answered")
        assert await b.claim("rtc_1") == ANSWERED_ELSEWHERE
        assert await a.claim("rtc_1") == ANSWERED_ELSEWHERE  # a later delivery to a, too

    on_claims(pg_url, body)


def test_a_waiting_replica_gets_the_answer_when_the_claim_settles(pg_url):
    async def body(replica, row):
        a, b = replica("a"), replica("b", wait_s=30)
        assert await a.claim("rtc_1") is None
        waiting = asyncio.create_task(b.claim("rtc_1"))
        await a.settle("rtc_1", 200)
        assert await waiting == ANSWERED_ELSEWHERE

    on_claims(pg_url, body)


def test_a_claim_released_by_a_5xx_is_taken_by_the_next_delivery(pg_url):
    async def body(replica, row):
        a, b = replica("a"), replica("b", wait_s=30)
        assert await a.claim("rtc_1") is None
        waiting = asyncio.create_task(b.claim("rtc_1"))
        await a.settle("rtc_1", 502)  # accepting failed: OpenAI delivers again
        assert await waiting is None  # b answers the call now
        assert tuple(await row("rtc_1")) == ("b", "answering")
        await b.settle("rtc_1", 200)
        assert tuple(await row("rtc_1")) == ("b", "answered")

    on_claims(pg_url, body)


def test_a_lease_that_runs_out_before_the_answer_is_taken_over(pg_url):
    async def body(replica, row):
        # a claims and dies: nothing renews its lease, and it never settles.
        dead = replica("a", lease_s=0.3)
        assert await dead.claim("rtc_1") is None
        b = replica("b", wait_s=30)
        assert await b.claim("rtc_1") is None
        assert tuple(await row("rtc_1")) == ("b", "answering")
        await dead.settle("rtc_1", 200)  # too late: the claim is no longer a's
        assert tuple(await row("rtc_1")) == ("b", "answering")

    on_claims(pg_url, body)


def test_a_live_replica_keeps_its_claim_by_renewing_the_lease(pg_url):
    async def body(replica, row):
        a = replica("a", lease_s=1.5)
        a.start()  # renews every 0.5 s
        try:
            assert await a.claim("rtc_1") is None
            b = replica("b", wait_s=4.0)  # longer than two leases
            assert await b.claim("rtc_1") == BUSY_ELSEWHERE
            assert tuple(await row("rtc_1")) == ("a", "answering")
        finally:
            await a.stop()

    on_claims(pg_url, body)


def test_with_the_database_down_the_replica_answers_on_its_own(pg_url, caplog):
    async def main():
        gate = TcpGate((pg_url.host, pg_url.port or 5432))  # never opened: refused
        claims = SharedClaims(gate.url(pg_url), "a", timeout_s=1)
        assert await claims.claim("rtc_1") is None
        assert await claims.claim("rtc_2") is None
        assert claims.unavailable == 2
        await claims.settle("rtc_1", 200)  # nothing held: nothing to do, nothing raised
        await claims.stop()

    asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "call claims" in r.getMessage()]
    assert len(lines) == 1, lines  # once, not per call
    assert "answers its deliveries on its own" in lines[0]


def test_the_claims_connections_are_shared_out_and_a_broken_one_is_replaced(pg_url):
    from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

    from engine.records.quickpool import QuickPool

    async def main():
        _, options = asyncpg_dialect.dialect().create_connect_args(pg_url)
        pool = QuickPool(2, **options)
        most = 0

        async def work(i):
            nonlocal most
            connection = await pool.take()
            most = max(most, pool._open)
            try:
                if i == 3:
                    await connection.fetchval("SELECT no_such_column")
                return await connection.fetchval("SELECT $1::int + 0", i)
            except Exception:
                pool.give(connection, broken=True)
                return None
            finally:
                if not connection.is_closed() and i != 3:
                    pool.give(connection)

        results = await asyncio.gather(*(work(i) for i in range(8)))
        assert results == [0, 1, 2, None, 4, 5, 6, 7]
        assert most == 2  # never more than its size, however many asked at once

        # A task that gives up waiting takes nothing with it.
        held = [await pool.take(), await pool.take()]
        waiting = asyncio.create_task(pool.take())
        await asyncio.sleep(0)
        waiting.cancel()
        pool.give(held.pop())
        held.append(await pool.take())  # the one given back, not lost to the cancelled task
        for connection in held:
            pool.give(connection)
        await pool.close()
        assert pool._open == 0

    asyncio.run(main())

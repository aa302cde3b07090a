"""The store on real SQLite and PostgreSQL: the migrations make the schema, records go in
and come back whole, a call's later record replaces its earlier one, filters and pages find
the right calls, and retention prunes the old ones only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from records_kit import T0, make_record
from sqlalchemy import inspect

from engine.records import CallOutcome
from engine.records.database import open_database
from engine.records.migrate import current_revision, head_revision, upgrade
from engine.records.query import CallQuery
from engine.records.store import CallStore


def run(coro_fn, url):
    async def main():
        database = open_database(url)
        try:
            await upgrade(database)
            return await coro_fn(CallStore(database), database)
        finally:
            await database.dispose()

    return asyncio.run(main())


def test_the_migrations_make_both_tables_once(db_url):
    async def main():
        database = open_database(db_url)
        try:
            assert await current_revision(database) is None
            assert await upgrade(database) == (None, head_revision())
            assert await upgrade(database) == (head_revision(), head_revision())  # no-op

            async with database.connect() as connection:
                tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
                indexes = await connection.run_sync(
                    lambda c: {i["name"] for i in inspect(c).get_indexes("calls")}
                )
            assert {"calls", "call_claims", "engine_schema_version"} <= tables
            assert {"ix_calls_received_at", "ix_calls_outcome", "ix_calls_to_number"} <= indexes
        finally:
            await database.dispose()

    asyncio.run(main())


def test_replicas_starting_together_migrate_once(pg_url):
    async def main():
        databases = [open_database(pg_url) for _ in range(4)]
        try:
            results = await asyncio.gather(*(upgrade(d) for d in databases))
            assert sorted(r[0] is None for r in results) == [False, False, False, True]
            assert all(after == head_revision() for _, after in results)
        finally:
            for d in databases:
                await d.dispose()

    asyncio.run(main())


def test_a_record_comes_back_whole(db_url):
    record = make_record(replica="replica-a")

    async def body(store, _):
        await store.upsert([record], "writer-replica")
        return await store.get(record.call_id)

    back = run(body, db_url)
    assert back is not None
    assert back.to_dict() == record.to_dict()
    assert back.received_at.tzinfo is not None


def test_the_replica_that_wrote_it_is_kept_when_the_record_names_none(db_url):
    async def body(store, _):
        await store.upsert([make_record(replica=None)], "replica-b")
        return await store.get("rtc_test_1"), (await store.find(CallQuery()))[0]

    record, summaries = run(body, db_url)
    assert record.replica == "replica-b" and summaries[0].replica == "replica-b"


def test_a_calls_later_record_replaces_its_earlier_one(db_url):
    decided = make_record(ended=False, outcome=None, transcript=[])
    ended = make_record()

    async def body(store, _):
        await store.upsert([decided])
        first = (await store.find(CallQuery()))[0]
        await store.upsert([ended])
        return first, (await store.find(CallQuery()))[0], await store.count()

    first, last, count = run(body, db_url)
    assert count == 1
    assert first[0].outcome is None and first[0].ended_at is None
    assert last[0].outcome == "transferred" and last[0].duration_s == 10.0


def test_text_postgresql_would_refuse_is_kept_readable(db_url):
    # A caller's SIP header and the model's words can hold a NUL or half a surrogate pair;
    # a number can be longer than any real one. None of it may make a write fail.
    odd = "bad\x00byte \ud800half"
    record = make_record(
        "rtc_odd",
        from_number="+1" + "9" * 200,
        headers={"X-Odd": odd},
        transcript=[],
        reject_reason=odd,
    )

    async def body(store, _):
        await store.upsert([record])
        return await store.get("rtc_odd"), (await store.find(CallQuery()))[0][0]

    back, summary = run(body, db_url)
    assert back.headers["X-Odd"] == "bad\ufffdbyte \ufffdhalf"
    assert back.reject_reason == "bad\ufffdbyte \ufffdhalf"
    assert back.from_number == record.from_number  # whole in the record
    assert len(summary.from_number) == 64  # cut in its column


def test_filters_find_the_right_calls(db_url):
    records = [
        make_record("rtc_a", at=T0, flow="acme-support", outcome=CallOutcome.TRANSFERRED),
        make_record(
            "rtc_b", at=T0 + timedelta(hours=1), flow="orders", outcome=CallOutcome.HANDLED
        ),
        make_record(
            "rtc_c",
            at=T0 + timedelta(hours=2),
            flow="orders",
            from_number="+14155550199",
            outcome=CallOutcome.ABANDONED,
        ),
        make_record(
            "rtc_d", at=T0 + timedelta(hours=3), flow="acme_support", to_number="+15550001"
        ),
    ]

    async def body(store, _):
        await store.upsert(records)

        async def ids(**words):
            page, _ = await store.find(CallQuery.parse(words, now=T0 + timedelta(hours=4)))
            return [c.call_id for c in page]

        return {
            "all": await ids(),
            "flow name": await ids(flow="orders"),
            "flow file": await ids(flow="orders.yaml"),
            "flow path": await ids(flow="flows/acme-support.yaml"),
            "underscore is no wildcard": await ids(flow="acme_support.yaml"),
            "caller": await ids(number="+14155550199"),
            "dialled": await ids(number="+15550001"),
            "outcome": await ids(outcome="handled"),
            "since": await ids(since="2026-11-24T16:30"),
            "until": await ids(until="2026-11-24T16:30Z"),
            "ago": await ids(since="150m"),
        }

    found = run(body, db_url)
    assert found == {
        "all": ["rtc_d", "rtc_c", "rtc_b", "rtc_a"],
        "flow name": ["rtc_c", "rtc_b"],
        "flow file": ["rtc_c", "rtc_b"],
        "flow path": ["rtc_a"],
        "underscore is no wildcard": ["rtc_d"],
        "caller": ["rtc_c"],
        "dialled": ["rtc_d"],
        "outcome": ["rtc_b"],
        "since": ["rtc_d", "rtc_c"],
        "until": ["rtc_b", "rtc_a"],
        "ago": ["rtc_d", "rtc_c"],
    }


def test_pages_cover_every_call_once_even_with_equal_times(db_url):
    # Three calls in the same microsecond: the page boundary must not skip or repeat one.
    same = [make_record(f"rtc_same_{i}", at=T0) for i in range(3)]
    others = [make_record(f"rtc_{i:02d}", at=T0 + timedelta(seconds=i)) for i in range(1, 8)]

    async def body(store, _):
        await store.upsert(same + others)
        seen, query = [], CallQuery(limit=3)
        while True:
            page, after = await store.find(query)
            seen += [c.call_id for c in page]
            if after is None:
                return seen
            query = CallQuery.parse({"limit": "3", "before": after.encode()})

    seen = run(body, db_url)
    assert len(seen) == len(set(seen)) == 10
    assert seen[:7] == [f"rtc_{i:02d}" for i in range(7, 0, -1)]


def test_pruning_removes_only_calls_older_than_the_cutoff(db_url):
    records = [make_record(f"rtc_{d}", at=T0 - timedelta(days=d)) for d in (0, 29, 31, 400)]

    async def body(store, _):
        await store.upsert(records)
        gone = await store.prune(T0 - timedelta(days=30))
        page, _ = await store.find(CallQuery())
        return gone, [c.call_id for c in page]

    assert run(body, db_url) == (2, ["rtc_0", "rtc_29"])


@pytest.mark.parametrize("missing", ["rtc_nope"])
def test_an_unknown_call_is_none(db_url, missing):
    async def body(store, _):
        return await store.get(missing)

    assert run(body, db_url) is None


def test_the_stores_own_conversion_is_to_dict_exactly():
    from engine.records.storable import plain

    records = [
        make_record(),
        make_record(ended=False, outcome=None, transcript=None, headers={}),
        make_record(
            tools=[],
            keys=[],
            handoffs=["a.yaml", "b.yaml"],
            decision="rejected",
            reject_status=480,
            reject_reason="closed",
            reject_kind="closed",
            timeline=[],
        ),
    ]
    records[0].tools[0] = type(records[0].tools[0])(
        "lookup", T0, "not json {", "failed", None, None, None
    )
    records[0].timeline[0].data.update({"nested": {"at": [1, 2.5, True, None]}, "n": (1, 2)})
    for record in records:
        assert plain(record) == record.to_dict()
        assert type(plain(record)["outcome"]) is type(record.to_dict()["outcome"])

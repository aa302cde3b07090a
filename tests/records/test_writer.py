"""The writer keeps records off the call path: ``put`` returns at once, batches reach the
database, a database that goes away costs no record until the buffer is full (then what
is dropped is counted and logged), a record the database refuses is dropped alone, and
``stop`` writes everything left."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from records_kit import T0, TcpGate, make_record, settings_for

from engine.records import Records
from engine.records.database import open_database
from engine.records.migrate import upgrade
from engine.records.settings import database_url
from engine.records.store import CallStore
from engine.records.writer import RecordWriter

from helpers import wait_for


def writer_on(url, **options):
    database = open_database(url, timeout_s=2.0)
    store = CallStore(database, timeout_s=2.0)
    writer = RecordWriter(store, replica="w", ensure_schema=lambda: upgrade(database), **options)
    return database, store, writer


def test_put_returns_at_once_and_every_record_is_written(db_url):
    async def main():
        database, store, writer = writer_on(db_url, batch_size=200)
        writer.start()
        for i in range(1_000):
            writer.put(make_record(f"rtc_{i:04d}", at=T0 + timedelta(seconds=i)))
        assert writer.queue_depth > 0  # nothing was written inside put
        await wait_for(lambda: writer.written == 1_000, 20, "1,000 records written")
        assert await store.count() == 1_000
        assert writer.dropped == 0 and writer.queue_depth == 0
        await writer.stop()
        await database.dispose()

    asyncio.run(main())


def test_a_calls_newer_record_replaces_its_waiting_one(sqlite_url):
    async def main():
        database, store, writer = writer_on(sqlite_url)
        writer.put(make_record(ended=False, outcome=None))
        writer.put(make_record())
        assert writer.queue_depth == 1
        await writer.stop()
        assert writer.written == 1
        assert (await store.get("rtc_test_1")).outcome == "transferred"
        await database.dispose()

    asyncio.run(main())


def test_records_wait_while_the_database_is_down_and_are_written_when_it_is_back(pg_url, caplog):
    async def main():
        gate = TcpGate((pg_url.host, pg_url.port or 5432))
        await gate.open()
        database, _, writer = writer_on(gate.url(pg_url), flush_interval_s=0.05)
        writer.start()
        writer.put(make_record("rtc_before"))
        await wait_for(lambda: writer.written == 1, 20, "the first record")

        await gate.close()  # the database goes away
        writer.put(make_record("rtc_during_1"))
        writer.put(make_record("rtc_during_2"))
        await wait_for(lambda: writer.database_down, 20, "the writer to see the database down")
        assert writer.queue_depth == 2 and writer.dropped == 0

        await gate.open()  # and comes back
        await wait_for(lambda: writer.written == 3, 40, "the waiting records")
        assert not writer.database_down
        await writer.stop()
        await database.dispose()

        check = open_database(pg_url)
        assert await CallStore(check).count() == 3
        await check.dispose()
        await gate.close()

    with caplog.at_level(logging.INFO, logger="engine.records"):
        asyncio.run(main())
    said = caplog.text
    assert "the database is not answering" in said and "answers again" in said
    assert "wait in memory" in said


def test_a_full_buffer_drops_counts_and_logs(tmp_path, caplog):
    down = database_url(f"sqlite:///{tmp_path / 'no-such-folder' / 'records.db'}")

    async def main():
        database, _, writer = writer_on(down, buffer_size=5)
        writer.start()
        for i in range(8):
            writer.put(make_record(f"rtc_{i}"))
        writer.put(make_record("rtc_0", ended=False))  # a waiting call's update still fits
        assert (writer.queue_depth, writer.dropped) == (5, 3)
        await writer.stop(drain_timeout_s=0.2)
        assert writer.dropped == 8  # and the five never written, once stopped
        await database.dispose()

    with caplog.at_level(logging.WARNING, logger="engine.records"):
        asyncio.run(main())
    said = [r.getMessage() for r in caplog.records]
    full = [line for line in said if "buffer is full" in line]
    assert full == [
        "the records buffer is full (5 calls): 1 call record(s) dropped (1 in all since start)"
    ], "one line for a burst of drops, not one per record"
    assert "2 more call record(s) dropped since the last report (3 in all)" in said
    assert any("not written before exit" in r.getMessage() for r in caplog.records)


def test_put_never_raises(sqlite_url, caplog):
    async def main():
        database, _, writer = writer_on(sqlite_url)
        writer.put(None)  # type: ignore[arg-type]
        assert writer.dropped == 1
        await writer.stop()
        writer.put(make_record())  # after stop: counted, not raised
        assert writer.dropped == 2
        await database.dispose()

    asyncio.run(main())


def test_a_record_the_database_refuses_is_dropped_alone(db_url, caplog):
    async def main():
        database, store, writer = writer_on(db_url)
        writer.put(make_record("rtc_good_1"))
        writer.put(make_record("rtc_bad", received_at="not a time"))
        writer.put(make_record("rtc_good_2"))
        await writer.stop()
        assert (writer.written, writer.dropped) == (2, 1)
        assert await store.count() == 2
        await database.dispose()

    with caplog.at_level(logging.WARNING, logger="engine.records"):
        asyncio.run(main())
    assert "refused call rtc_bad's record" in caplog.text


def test_the_service_prunes_old_records_at_start_and_drains_on_stop(db_url):
    async def main():
        records = Records(settings_for(db_url, days=30))
        await records.upgrade()
        old = make_record("rtc_old", at=T0 - timedelta(days=400))
        await records.store.upsert([old, make_record("rtc_recent", at=T0 + timedelta(days=3650))])
        await records.start()
        await wait_for(lambda: records.last_prune is not None, 20, "the first pruning")
        assert records.pruned == 1
        records.sink.put(make_record("rtc_last", at=T0 + timedelta(days=3650)))
        await records.stop()

        check = open_database(db_url)
        store = CallStore(check)
        assert await store.get("rtc_old") is None
        assert await store.get("rtc_recent") is not None
        assert await store.get("rtc_last") is not None
        await check.dispose()

    asyncio.run(main())

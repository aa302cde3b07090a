"""Flow versions on real SQLite and PostgreSQL: kept whole, listed newest first, and the
versions the engine loads written in the background once each (those already kept, and
those the studio saved, are not written again); a bounded queue."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from records_kit import T0

from engine.records.database import open_database
from engine.records.migrate import upgrade
from engine.records.versions import FILE_ON_DISK, FlowVersion, LoadedVersions, VersionStore


def run(coro_fn, url):
    async def main():
        database = open_database(url)
        try:
            await upgrade(database)
            return await coro_fn(VersionStore(database))
        finally:
            await database.dispose()

    return asyncio.run(main())


def test_versions_are_kept_whole_and_listed_newest_first(db_url):
    async def main(store: VersionStore):
        text = "name: Ünïcode ☎\n" * 3
        await store.add(FlowVersion("a.yaml", "aaaaaaaaaaaa", "alice", T0, "saved", None, text))
        later = T0 + timedelta(minutes=1)
        await store.add(
            FlowVersion("a.yaml", "bbbbbbbbbbbb", "bob", later, "saved", "aaaaaaaaaaaa", "b\n")
        )
        await store.add(FlowVersion("team/b.yaml", "aaaaaaaaaaaa", "c", T0, "saved", None, "x"))
        listed = await store.history("a.yaml")
        assert [(v.version, v.saved_by, v.based_on) for v in listed] == [
            ("bbbbbbbbbbbb", "bob", "aaaaaaaaaaaa"),
            ("aaaaaaaaaaaa", "alice", None),
        ]
        assert listed[0].saved_at == later and listed[0].text is None
        got = await store.get("a.yaml", "aaaaaaaaaaaa")
        assert got is not None and got.text == text
        assert await store.get("a.yaml", "cccccccccccc") is None
        assert await store.known([("a.yaml", "aaaaaaaaaaaa"), ("team/b.yaml", "bbbbbbbbbbbb")]) == {
            ("a.yaml", "aaaaaaaaaaaa")
        }

    run(main, db_url)


def test_loaded_versions_are_written_once_and_never_over_a_saved_one(db_url, tmp_path: Path):
    folder = tmp_path / "flows"

    async def main(store: VersionStore):
        loaded = LoadedVersions(store)
        await store.add(FlowVersion("kept.yaml", "111111111111", "alice", T0, "saved", None, "k"))
        loaded.kept("saved.yaml", "222222222222")  # the studio saved it (its row is its own)
        loaded.put(folder, str(folder / "kept.yaml"), "111111111111", "k")
        loaded.put(folder, str(folder / "saved.yaml"), "222222222222", "s")
        loaded.put(folder, str(folder / "team" / "new.yaml"), "333333333333", "n")
        loaded.put(folder, str(folder / "team" / "new.yaml"), "333333333333", "n")
        assert loaded.waiting_text("team/new.yaml", "333333333333") == "n"
        await loaded.flush()
        loaded.put(folder, str(folder / "team" / "new.yaml"), "333333333333", "n")  # seen
        await loaded.flush()
        assert loaded.written == 1
        assert [(v.saved_by, v.how) for v in await store.history("team/new.yaml")] == [
            (FILE_ON_DISK, "loaded")
        ]
        assert [v.saved_by for v in await store.history("kept.yaml")] == ["alice"]
        assert await store.history("saved.yaml") == []

    run(main, db_url)


def test_at_most_limit_loaded_versions_wait(sqlite_url, tmp_path: Path):
    async def main(store: VersionStore):
        loaded = LoadedVersions(store, limit=2)
        for i in range(3):
            loaded.put(tmp_path, str(tmp_path / f"f{i}.yaml"), f"{i:012d}", "t")
        assert loaded.dropped == 1
        await loaded.flush()
        assert loaded.written == 2

    run(main, sqlite_url)

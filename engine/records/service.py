"""Call records for one engine process, as one object the engine wires in: the sink its
calls put records in, the claims that make one replica answer each call, the `/calls`
routes, and the background work (writing, pruning) started and stopped with the engine.

``Records(None)`` keeps nothing (an engine built in a test, unless it asks for records):
its sink discards, its claims say yes, its routes answer 404, and SQLAlchemy is not even
imported (a process that imports it owes the garbage collector a full pass over it, which
would otherwise come due in the middle of calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .record import CallRecord

if TYPE_CHECKING:
    from .claims import SharedClaims
    from .settings import RecordsSettings
    from .store import CallStore
    from .versions import LoadedVersions, VersionStore
    from .writer import RecordWriter

__all__ = ["DiscardSink", "LocalClaims", "Records"]

log = logging.getLogger("engine.records")

# OpenAI delivers a webhook again for up to 72 hours; a claim is kept a day longer.
CLAIMS_KEPT = timedelta(days=4)


class DiscardSink:
    """A sink for an engine that keeps no records."""

    def put(self, record: CallRecord) -> None:
        return None


class LocalClaims:
    """One replica (SQLite, or no records): every call is this one's to answer; the
    in-process guard of engine/server.py is the whole story."""

    unavailable = 0

    async def claim(self, call_id: str) -> int | None:
        return None

    async def settle(self, call_id: str, status: int) -> None:
        return None

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class Records:
    """The engine's records: ``sink`` (put a call's record there), ``claims`` (ask before
    answering a call), ``get(call_id)``, ``start()``/``stop()``.
    ``writer`` and ``store`` are None when no records are kept."""

    def __init__(self, settings: RecordsSettings | None) -> None:
        self.settings = settings
        self.store: CallStore | None = None
        self.writer: RecordWriter | None = None
        # The flows' versions (the studio's saves, the engine's loads): None when off.
        self.versions: VersionStore | None = None
        self.loaded_versions: LoadedVersions | None = None
        self.claims: LocalClaims | SharedClaims = LocalClaims()
        self._pruner: asyncio.Task[None] | None = None
        self.pruned = 0  # calls pruned since start
        self.last_prune: datetime | None = None  # when pruning last went through
        if settings is None:
            self.sink: DiscardSink | RecordWriter = DiscardSink()
            return
        from .database import open_database
        from .store import CallStore
        from .writer import RecordWriter

        self.database = open_database(settings.url, settings.statement_timeout_s)
        self.store = CallStore(self.database, settings.statement_timeout_s)
        self.writer = RecordWriter(
            self.store,
            replica=settings.replica,
            buffer_size=settings.buffer_size,
            batch_size=settings.batch_size,
            flush_interval_s=settings.flush_interval_s,
            ensure_schema=self.upgrade,
        )
        self.sink = self.writer
        from .versions import LoadedVersions, VersionStore

        self.versions = VersionStore(self.database, settings.statement_timeout_s)
        self.loaded_versions = LoadedVersions(self.versions, ensure_schema=self.upgrade)
        if settings.shared:
            from .claims import SharedClaims

            # Connections of their own: a claim never waits behind a batch of records.
            self.claims = SharedClaims(
                settings.url, settings.replica, lease_s=settings.claim_lease_s
            )

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    async def upgrade(self) -> None:
        """The schema up to date (Alembic; nothing to do when it is)."""
        from .migrate import upgrade  # Alembic, only once a database is in use

        assert self.settings is not None
        async with asyncio.timeout(self.settings.statement_timeout_s * 3):
            before, after = await upgrade(self.database)
        if before != after:
            log.info("records: database schema upgraded from %s to %s", before or "empty", after)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        settings = self.settings
        if settings is None or self.writer is None:
            return
        import gc

        from .database import describe_error

        kept = f"{settings.days} days" if settings.days else "for ever"
        log.info(
            "records: kept in %s (%s); this replica is %s",
            settings.shown_url,
            kept,
            settings.replica,
        )
        try:
            await self.upgrade()
        except Exception as exc:
            # Calls go on: the writer migrates before its first write, and keeps retrying.
            log.error(
                "records: the database is not ready (%s); calls are answered and their "
                "records wait in memory until it is",
                describe_error(exc),
            )
        else:
            self.writer.schema_ready()
            if self.loaded_versions is not None:
                self.loaded_versions.schema_ready()
        self.writer.start()
        if self.loaded_versions is not None:
            self.loaded_versions.start()
        self.claims.start()
        # SQLAlchemy and Alembic are loaded now, tens of thousands of objects that live as
        # long as the process. The garbage collector's full passes would walk them all (a
        # pause of 0.1 to 0.25 s in the middle of calls, twice a minute under load): one
        # pass now, then they are set aside (frozen) and later passes walk the rest only.
        gc.collect()
        gc.freeze()
        self._pruner = asyncio.create_task(self._prune_forever(), name="records-pruner")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Write every record still waiting (for up to ``drain_timeout_s``), then close."""
        if self.settings is None or self.writer is None:
            return
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        await self.claims.stop()
        if self.loaded_versions is not None:
            await self.loaded_versions.stop(drain_timeout_s)
        await self.writer.stop(drain_timeout_s)
        await self.database.dispose()

    async def _prune_forever(self) -> None:
        from .database import describe_error

        assert self.settings is not None and self.store is not None
        while True:
            now = datetime.now(UTC)
            try:
                if self.settings.days:
                    gone = await self.store.prune(now - timedelta(days=self.settings.days))
                    self.pruned += gone
                    if gone:
                        log.info(
                            "records: %d call(s) older than %d days pruned",
                            gone,
                            self.settings.days,
                        )
                await self.store.prune_claims(now - CLAIMS_KEPT)
                self.last_prune = now
            except Exception as exc:
                log.warning(
                    "records: pruning failed (%s); tried again at the next round",
                    describe_error(exc),
                )
            await asyncio.sleep(self.settings.prune_interval_s)

    def version_loaded(self, folder: str | Path, path: str, version: str, text: str) -> None:
        """The engine loaded ``version`` of the flow file ``path`` (in ``folder``): kept in
        ``flow_versions`` in the background if it is not there yet. Never blocks."""
        if self.loaded_versions is not None:
            self.loaded_versions.put(folder, path, version, text)

    # -- reading ---------------------------------------------------------------------------
    async def get(self, call_id: str) -> CallRecord | None:
        """A call's latest record: still waiting to be written, or from the database."""
        waiting = self.writer.waiting(call_id) if self.writer is not None else None
        if waiting is not None:
            return waiting
        return None if self.store is None else await self.store.get(call_id)

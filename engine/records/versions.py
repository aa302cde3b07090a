"""Flow versions: every text of a flow file the studio saved or the engine loaded, in the
``flow_versions`` table, so a call's ``flow_version`` always leads to the text it ran.

``VersionStore`` reads and writes the table (the studio's pages, its saves). ``LoadedVersions``
is the engine's side: each reload hands it the versions it loaded (``put`` never blocks, never
waits on the database), and a background task writes those the table does not have yet
(``how="loaded"``, ``saved_by="file on disk"``): a file edited outside the studio is kept
too. A flow file is named as the studio names it: its path relative to the flows folder
(``flow_file_name``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from .database import describe_error
from .naming import flow_file_name
from .schema import flow_versions

__all__ = [
    "FILE_ON_DISK",
    "FlowVersion",
    "LoadedVersions",
    "VersionStore",
    "flow_file_name",
]

log = logging.getLogger("engine.records")

FILE_ON_DISK = "file on disk"  # saved_by of a version the engine found on disk
_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
_LISTED = 500  # versions a list shows at most (the newest)


@dataclass(frozen=True, slots=True)
class FlowVersion:
    flow_file: str
    version: str  # FlowSnapshot.version: the first 12 hex digits of the text's SHA-256
    saved_by: str  # a studio user's name, or FILE_ON_DISK
    saved_at: datetime
    how: str  # saved | restored | loaded
    based_on: str | None = None  # the version the editor started from
    text: str | None = None  # None in lists (``VersionStore.history``)


class VersionStore:
    """The ``flow_versions`` table; every statement under a deadline."""

    def __init__(self, engine: AsyncEngine, timeout_s: float = 5.0) -> None:
        self.engine = engine
        self.timeout_s = timeout_s

    async def add(self, version: FlowVersion) -> None:
        assert version.text is not None
        row = {
            "flow_file": version.flow_file,
            "version": version.version,
            "text": version.text,
            "saved_by": version.saved_by[:256],
            "saved_at": version.saved_at,
            "how": version.how,
            "based_on": version.based_on,
        }
        async with asyncio.timeout(self.timeout_s), self.engine.begin() as conn:
            await conn.execute(flow_versions.insert(), [row])

    async def history(self, flow_file: str, limit: int = _LISTED) -> list[FlowVersion]:
        """The file's versions, newest first (without their text)."""
        query = (
            select(
                flow_versions.c.version,
                flow_versions.c.saved_by,
                flow_versions.c.saved_at,
                flow_versions.c.how,
                flow_versions.c.based_on,
            )
            .where(flow_versions.c.flow_file == flow_file)
            .order_by(flow_versions.c.saved_at.desc(), flow_versions.c.id.desc())
            .limit(limit)
        )
        async with asyncio.timeout(self.timeout_s), self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            FlowVersion(flow_file, r.version, r.saved_by, r.saved_at, r.how, r.based_on)
            for r in rows
        ]

    async def get(self, flow_file: str, version: str) -> FlowVersion | None:
        """The latest row of that version of the file, with its text."""
        query = (
            select(flow_versions)
            .where(flow_versions.c.flow_file == flow_file, flow_versions.c.version == version)
            .order_by(flow_versions.c.saved_at.desc(), flow_versions.c.id.desc())
            .limit(1)
        )
        async with asyncio.timeout(self.timeout_s), self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return FlowVersion(
            row.flow_file, row.version, row.saved_by, row.saved_at, row.how, row.based_on, row.text
        )

    async def known(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (flow_file, version) pairs the table has."""
        if not pairs:
            return set()
        wanted = set(pairs)
        query = select(flow_versions.c.flow_file, flow_versions.c.version).where(
            flow_versions.c.version.in_(sorted({v for _, v in wanted}))
        )
        async with asyncio.timeout(self.timeout_s), self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(r.flow_file, r.version) for r in rows} & wanted


@dataclass(frozen=True, slots=True)
class _Loaded:
    folder: str
    path: str
    version: str
    text: str


class LoadedVersions:
    """The versions the engine loads from disk, written to ``flow_versions`` in the
    background when the table lacks them. ``put`` is for the engine's reload: it never
    blocks or raises; at most ``limit`` versions wait (more are dropped and logged, as a
    database down for long would otherwise hold every text in memory)."""

    def __init__(
        self,
        store: VersionStore,
        *,
        limit: int = 1_000,
        batch_size: int = 100,
        ensure_schema: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.limit = limit
        self.batch_size = batch_size
        self._ensure_schema = ensure_schema
        self._schema_ready = ensure_schema is None
        self._waiting: dict[tuple[str, str], _Loaded] = {}  # by (path, version), in order
        self._seen: set[tuple[str, str]] = set()  # (flow_file, version) known to be kept
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self.written = 0
        self.dropped = 0

    def schema_ready(self) -> None:
        self._schema_ready = True

    def kept(self, flow_file: str, version: str) -> None:
        """This version is in the table (the studio saved it): nothing to write for it."""
        self._seen.add((flow_file, version))

    def put(self, folder: str | Path, path: str, version: str, text: str) -> None:
        """The engine loaded ``version`` of ``path`` (a file in ``folder``)."""
        try:
            key = (path, version)
            if key in self._waiting:
                return
            if len(self._waiting) >= self.limit:
                self.dropped += 1
                log.warning(
                    "records: flow version %s of %s not kept: %d versions already wait "
                    "for the database",
                    version,
                    path,
                    self.limit,
                )
                return
            self._waiting[key] = _Loaded(str(folder), path, version, text)
            self._wake.set()
        except Exception:  # a reload must never fail for this
            log.exception("records: a loaded flow version could not be queued")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="records-flow-versions")

    async def stop(self, drain_timeout_s: float = 3.0) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._waiting:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(drain_timeout_s):
                    await self.flush()
        if self._waiting:
            log.warning(
                "records: %d loaded flow version(s) not kept before exit", len(self._waiting)
            )

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                self._failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures += 1
                self._schema_ready = self._ensure_schema is None
                pause = _BACKOFF_S[min(self._failures, len(_BACKOFF_S)) - 1]
                if self._failures == 1:
                    log.warning(
                        "records: loaded flow versions not written (%s); retrying",
                        describe_error(exc),
                    )
                await asyncio.sleep(pause)
                self._wake.set()

    async def flush(self) -> None:
        """Write every waiting version the table lacks; raises when the database fails (what
        was not written still waits)."""
        while self._waiting:
            keys = list(self._waiting)[: self.batch_size]
            batch = [self._waiting[k] for k in keys]
            named = [(flow_file_name(b.folder, b.path), b) for b in batch]
            fresh = [(name, b) for name, b in named if (name, b.version) not in self._seen]
            if fresh:
                if not self._schema_ready:
                    assert self._ensure_schema is not None
                    await self._ensure_schema()
                    self._schema_ready = True
                have = await self.store.known([(name, b.version) for name, b in fresh])
                now = datetime.now(UTC)
                for name, b in fresh:
                    if (name, b.version) not in have:
                        await self.store.add(
                            FlowVersion(name, b.version, FILE_ON_DISK, now, "loaded", text=b.text)
                        )
                        self.written += 1
                    self._seen.add((name, b.version))
            for k in keys:
                self._waiting.pop(k, None)
            await asyncio.sleep(0)

    def waiting_text(self, flow_file: str, version: str) -> str | None:
        """The text of that version if it still waits to be written."""
        for b in list(self._waiting.values()):
            if b.version == version and flow_file_name(b.folder, b.path) == flow_file:
                return b.text
        return None

"""The records' way to the database, off the call path.

``put`` (the ``RecordSink`` the calls see) only puts the record in a buffer, which keeps the
latest version of each call (a record is put when the call is decided and again when it
ends). A background task writes the buffer every ``flush_interval_s``, or as soon as a
batch is full, in batches of ``batch_size``, yielding to the calls between batches (and
between every few records of a batch while it is made: that work is on the event loop).

When the database is down, calls go on: records wait in the buffer (at most
``buffer_size`` calls) and the writer retries with backoff (0.5 s doubling to 30 s). A
record that does not fit is dropped, counted in ``dropped`` and logged (once per 10 s with
a count). A record the database refuses while it answers (twice, the second time alone) is
dropped the same way, so one bad record cannot hold up the others for ever.

``stop`` writes everything left before returning (the drain on SIGTERM), within
``drain_timeout_s``; what is still unwritten then is counted as dropped and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from .database import describe_error
from .record import CallRecord
from .store import CallStore

__all__ = ["RecordWriter"]

log = logging.getLogger("engine.records")

_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
_REPORT_EVERY_S = 10.0  # at most one "buffer full" line per this long
_DOWN_REPORT_EVERY_S = 60.0  # while the database stays down


class RecordWriter:
    """A ``RecordSink``: batched, bounded, retrying. Counters for metrics: ``written``,
    ``dropped``, ``queue_depth``."""

    def __init__(
        self,
        store: CallStore,
        *,
        replica: str | None = None,
        buffer_size: int = 10_000,
        batch_size: int = 100,
        flush_interval_s: float = 0.5,
        ensure_schema: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.replica = replica
        self.buffer_size = buffer_size
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._ensure_schema = ensure_schema
        self._schema_ready = ensure_schema is None
        self._buffer: dict[str, CallRecord] = {}
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # one flush at a time: a flush sees the last one done
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = False
        self._failures = 0  # writes failed in a row: the database is down while > 0
        self._down_since = 0.0
        self._next_down_report = 0.0
        self._unreported_drops = 0
        self._next_drop_report = 0.0
        self.written = 0  # records written since start
        self.dropped = 0  # records lost: buffer full, refused by the database, or not drained

    @property
    def queue_depth(self) -> int:
        """Calls whose latest record waits to be written."""
        return len(self._buffer)

    @property
    def database_down(self) -> bool:
        return self._failures > 0

    def waiting(self, call_id: str) -> CallRecord | None:
        """The call's record if it is still waiting to be written."""
        return self._buffer.get(call_id)

    def schema_ready(self) -> None:
        """The schema is known to be current: the first write need not migrate."""
        self._schema_ready = True

    # -- the call path --------------------------------------------------------------------
    def put(self, record: CallRecord) -> None:
        """Never blocks, waits or raises."""
        try:
            if self._stopped:
                self._drop(1, "put after the records writer stopped")
                return
            key = record.call_id
            if key not in self._buffer and len(self._buffer) >= self.buffer_size:
                self._drop(1, f"the records buffer is full ({self.buffer_size} calls)")
                return
            self._buffer[key] = record  # a call's newer record replaces its older one
            if len(self._buffer) >= self.batch_size and not self._failures:
                self._wake.set()
        except Exception:  # a record must never break a call
            self.dropped += 1
            log.exception("a call record could not be queued; dropped")

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        self._unreported_drops += count
        now = time.monotonic()
        if now >= self._next_drop_report:
            self._next_drop_report = now + _REPORT_EVERY_S
            log.warning(
                "%s: %d call record(s) dropped (%d in all since start)",
                why,
                self._unreported_drops,
                self.dropped,
            )
            self._unreported_drops = 0

    # -- the background task --------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="records-writer")

    async def _run(self) -> None:
        delay = self.flush_interval_s
        while not self._stopping:
            # Woken early by a full batch or by stop; while backing off, only by stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            if await self.flush():
                delay = self.flush_interval_s
            else:
                delay = _BACKOFF_S[min(self._failures, len(_BACKOFF_S)) - 1]

    async def flush(self) -> bool:
        """Write the whole buffer, batch by batch; once it returns True, every record put
        before the call is in the database. False: the database is down (what was not
        written waits in the buffer)."""
        async with self._writing:
            while self._buffer:
                keys = list(self._buffer)[: self.batch_size]
                batch = [self._buffer.pop(key) for key in keys]
                if not await self._write(batch):
                    return False
                await asyncio.sleep(0)  # the calls run between batches
            return True

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop taking records and write what is left, for up to ``drain_timeout_s``."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task  # it finishes the write it is in
        deadline = time.monotonic() + drain_timeout_s
        attempt = 0
        while self._buffer and time.monotonic() < deadline:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    if await self.flush():
                        break
            except TimeoutError:
                break
            pause = min(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)], deadline - time.monotonic())
            if pause > 0:
                await asyncio.sleep(pause)
            attempt += 1
        self._stopped = True
        if self._unreported_drops:
            log.warning(
                "%d more call record(s) dropped since the last report (%d in all)",
                self._unreported_drops,
                self.dropped,
            )
            self._unreported_drops = 0
        if self._buffer:
            lost = len(self._buffer)
            self._buffer.clear()
            self.dropped += lost
            log.error(
                "records: %d call record(s) not written before exit: the database did not "
                "answer within %g s",
                lost,
                drain_timeout_s,
            )

    # -- one batch ------------------------------------------------------------------------
    async def _write(self, batch: list[CallRecord]) -> bool:
        try:
            if not self._schema_ready:
                assert self._ensure_schema is not None
                await self._ensure_schema()
                self._schema_ready = True
            await self.store.upsert(batch, self.replica)
        except asyncio.CancelledError:
            self._requeue(batch)
            raise
        except Exception as exc:
            if not await self._answers():
                self._requeue(batch)
                self._down(exc)
                return False
            # The database answers but refused the batch: one record is to blame. Each
            # alone, so the others are kept.
            for i, record in enumerate(batch):
                try:
                    await self.store.upsert([record], self.replica)
                    self.written += 1
                except asyncio.CancelledError:
                    self._requeue(batch[i:])
                    raise
                except Exception as alone:
                    if not await self._answers():
                        self._requeue(batch[i:])
                        self._down(alone)
                        return False
                    self._drop(
                        1,
                        f"the database refused call {record.call_id}'s record "
                        f"({describe_error(alone)})",
                    )
            self._up()
            return True
        self.written += len(batch)
        self._up()
        return True

    async def _answers(self) -> bool:
        try:
            await self.store.probe()
            return True
        except asyncio.CancelledError:
            raise
        except Exception:
            self._schema_ready = self._ensure_schema is None  # a dropped table comes back
            return False

    def _requeue(self, batch: list[CallRecord]) -> None:
        for record in batch:
            self._buffer.setdefault(record.call_id, record)  # a newer version stays

    def _down(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._failures += 1
        if self._failures == 1:
            self._down_since = now
        if self._failures == 1 or now >= self._next_down_report:
            self._next_down_report = now + _DOWN_REPORT_EVERY_S
            retry = _BACKOFF_S[min(self._failures, len(_BACKOFF_S)) - 1]
            log.warning(
                "records: the database is not answering (%s); %d call record(s) wait in "
                "memory (at most %d), retrying in %g s",
                describe_error(exc),
                len(self._buffer),
                self.buffer_size,
                retry,
            )

    def _up(self) -> None:
        if self._failures:
            log.info(
                "records: the database answers again after %.0f s down",
                time.monotonic() - self._down_since,
            )
        self._failures = 0

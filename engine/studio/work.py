"""Blocking work (a lint, a scenario run) done off the event loop, a few at a time.

The event loop that serves the studio also serves the calls' webhooks: nothing the studio
does may hold it. ``Bounded.run`` runs a function in a thread, at most ``limit`` at once; a
caller waits at most ``timeout_s`` for its turn and its answer together (``Busy`` then). A
thread cannot be stopped: one that outlives its caller keeps its place until it ends, so the
bound holds however many callers give up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Bounded", "Busy"]

T = TypeVar("T")


class Busy(Exception):
    """The work did not finish in time (or could not start: the others took too long)."""


class Bounded:
    def __init__(self, limit: int, timeout_s: float) -> None:
        self.limit = limit
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(limit)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        deadline = time.monotonic() + self.timeout_s
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise Busy(f"waited {self.timeout_s:g} s for a turn") from None
        work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        work.add_done_callback(self._done)
        try:
            return await asyncio.wait_for(
                asyncio.shield(work), max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            raise Busy(f"not done within {self.timeout_s:g} s") from None

    def _done(self, work: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not work.cancelled():
            work.exception()  # retrieved: a caller that gave up is not told twice

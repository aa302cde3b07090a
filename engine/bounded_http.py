"""An httpx client whose requests queue for a slot and are never cancelled inside httpx.

Two things wedged the engine's shared client after a burst:

* Cancelling a request while httpcore's pool is contended can leave a connection that never
  connected in the pool for good (httpcore 1.0.9, encode/httpcore#1093): after enough of
  them every request fails with ``PoolTimeout`` against a healthy server.
* ``asyncio.timeout`` around an httpx call is exactly such a cancellation.

So here, requests first wait for one of ``max_in_flight`` slots (an ``asyncio.Semaphore``
no larger than the pool, so the pool is never contended), and the request itself runs in
its own task that nobody cancels: a caller that stops waiting (its deadline passed, or it
was cancelled) leaves the request to finish under httpx's own per-phase timeouts, and only
then is its slot free again. Waiting for a slot is bounded and safe to cancel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

__all__ = ["BoundedHttp", "NoSlot"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class NoSlot(Exception):
    """Every slot stayed busy for as long as the caller could wait: nothing was sent."""


class BoundedHttp:
    """``client`` with at most ``max_in_flight`` requests at once; the rest queue.

    ``max_in_flight`` must not exceed the client's ``max_connections`` (one HTTP/1.1
    request holds one connection), or requests would wait inside httpcore's pool again.
    """

    def __init__(self, client: httpx.AsyncClient, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.client = client
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self._running: set[asyncio.Task[Any]] = set()
        self.waiting = 0

    @classmethod
    def create(cls, max_connections: int, **client_options: Any) -> BoundedHttp:
        """A new client with a pool of ``max_connections`` and as many slots."""
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=min(max_connections, 50),
        )
        return cls(httpx.AsyncClient(limits=limits, **client_options), max_connections)

    @property
    def in_flight(self) -> int:
        """Requests running now (including those whose caller stopped waiting)."""
        return len(self._running)

    async def run(
        self,
        work: Callable[[httpx.AsyncClient], Awaitable[T]],
        *,
        wait_s: float,
        deadline_s: float | None = None,
        deadline_at: float | None = None,
    ) -> T:
        """Run ``work(client)`` once a slot is free (waiting at most ``wait_s``, else
        ``NoSlot``). Returns its result, or raises ``TimeoutError`` when it is not done
        within ``deadline_s`` of getting its slot, or by ``deadline_at`` (loop time); it
        then runs on detached until httpx's timeouts end it.

        ``work`` must bound itself with httpx timeouts (``pool=`` included) and close any
        streamed response it opens.
        """
        self.waiting += 1
        try:
            async with asyncio.timeout(max(wait_s, 0.0)):
                await self._slots.acquire()
        except TimeoutError:
            raise NoSlot(f"no free slot within {wait_s:g}s") from None
        finally:
            self.waiting -= 1
        task = asyncio.create_task(_call(work, self.client))
        self._running.add(task)
        task.add_done_callback(self._finished)
        # asyncio.wait never cancels the task: not on its timeout, not when we are cancelled.
        if deadline_at is not None:
            left = max(deadline_at - asyncio.get_running_loop().time(), 0.0)
            deadline_s = left if deadline_s is None else min(deadline_s, left)
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
        if not done:
            raise TimeoutError(f"no result within {deadline_s:g}s")
        return task.result()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        self._slots.release()
        if not task.cancelled():
            task.exception()  # retrieved: a caller that stopped waiting leaves no warning

    async def aclose(self, wait_s: float = 1.0) -> None:
        """Let running requests end (bounded), then close the client."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=wait_s)
        for task in list(self._running):
            task.cancel()
        await self.client.aclose()

    def pool_connections(self) -> list[Any]:
        """httpcore's connections of the default transport (for tests and diagnostics)."""
        transport = self.client._transport
        pool = getattr(transport, "_pool", None)
        return list(pool.connections) if pool is not None else []

    def pool_requests(self) -> int:
        """Requests httpcore's pool holds (queued or active)."""
        pool = getattr(self.client._transport, "_pool", None)
        return len(getattr(pool, "_requests", [])) if pool is not None else 0


async def _call(work: Callable[[httpx.AsyncClient], Awaitable[T]], client: httpx.AsyncClient) -> T:
    return await work(client)

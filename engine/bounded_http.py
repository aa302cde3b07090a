"""httpx clients whose requests queue for a slot and are never cancelled inside httpx.

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

One more cost: httpcore walks its whole pool, idle connection by idle connection, each time
a request starts or ends, which is quadratic in the pool's size (a pool of 100 spent tens of
milliseconds of CPU per request under a burst). ``Shards`` spreads the connections over a
few small clients instead, each request going to the least busy one.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx

__all__ = ["SHARD_SIZE", "BoundedHttp", "NoSlot", "Shards"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Connections per client: small enough that httpcore's walk over its pool stays cheap.
SHARD_SIZE = 16


class NoSlot(Exception):
    """Every slot stayed busy for as long as the caller could wait: nothing was sent."""


class Shards:
    """One or more httpx clients, and how many requests each is running."""

    def __init__(self, clients: httpx.AsyncClient | Sequence[httpx.AsyncClient]) -> None:
        self.clients = [clients] if isinstance(clients, httpx.AsyncClient) else list(clients)
        if not self.clients:
            raise ValueError("at least one client is needed")
        self._load = [0] * len(self.clients)

    @classmethod
    def create(cls, max_connections: int, **client_options: Any) -> Shards:
        """Clients of at most ``SHARD_SIZE`` connections, ``max_connections`` in all (or a
        few more: every client gets the same share)."""
        count = math.ceil(max_connections / SHARD_SIZE)
        each = math.ceil(max_connections / count)
        limits = httpx.Limits(max_connections=each, max_keepalive_connections=each)
        return cls([httpx.AsyncClient(limits=limits, **client_options) for _ in range(count)])

    def take(self) -> int:
        """The index of the least busy client, now one request busier."""
        index = min(range(len(self._load)), key=self._load.__getitem__)
        self._load[index] += 1
        return index

    def give_back(self, index: int) -> None:
        self._load[index] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    def pool_connections(self) -> list[Any]:
        """httpcore's connections of every client (for tests and diagnostics)."""
        return [c for pool in self._pools() for c in pool.connections]

    def pool_requests(self) -> int:
        """Requests httpcore's pools hold (queued or active)."""
        return sum(len(getattr(pool, "_requests", [])) for pool in self._pools())

    def _pools(self) -> list[Any]:
        pools = (getattr(client._transport, "_pool", None) for client in self.clients)
        return [pool for pool in pools if pool is not None]


class BoundedHttp:
    """At most ``max_in_flight`` requests at once over ``clients``; the rest queue.

    ``max_in_flight`` must not exceed the clients' ``max_connections`` (one HTTP/1.1 request
    holds one connection), or requests would wait inside httpcore's pool again; the least
    busy client is used, so with equal pools none is ever full while a slot is free. Several
    ``BoundedHttp`` may share one ``Shards`` (lanes) if their slots add up to no more.
    """

    def __init__(
        self, clients: httpx.AsyncClient | Sequence[httpx.AsyncClient] | Shards, max_in_flight: int
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.shards = clients if isinstance(clients, Shards) else Shards(clients)
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self._running: set[asyncio.Task[Any]] = set()
        self.waiting = 0

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
        index = self.shards.take()
        task = asyncio.create_task(_call(work, self.shards.clients[index]))
        self._running.add(task)
        task.add_done_callback(lambda done: self._finished(done, index))
        if deadline_at is not None:
            left = max(deadline_at - asyncio.get_running_loop().time(), 0.0)
            deadline_s = left if deadline_s is None else min(deadline_s, left)
        # asyncio.wait never cancels the task: not on its timeout, not when we are cancelled.
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
        if not done:
            raise TimeoutError(f"no result within {deadline_s:g}s")
        return task.result()

    def _finished(self, task: asyncio.Task[Any], index: int) -> None:
        self._running.discard(task)
        self.shards.give_back(index)
        self._slots.release()
        if not task.cancelled():
            task.exception()  # retrieved: a caller that stopped waiting leaves no warning

    async def aclose(self, wait_s: float = 1.0) -> None:
        """Let running requests end (bounded), then close the clients."""
        await self.aclose_requests(wait_s)
        await self.shards.aclose()

    async def aclose_requests(self, wait_s: float = 1.0) -> None:
        """Let running requests end (bounded), cancel what is left; the clients stay open
        (for another ``BoundedHttp`` sharing them)."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=wait_s)
        for task in list(self._running):
            task.cancel()

    def pool_connections(self) -> list[Any]:
        """httpcore's connections (for tests and diagnostics)."""
        return self.shards.pool_connections()

    def pool_requests(self) -> int:
        """Requests httpcore's pools hold (queued or active)."""
        return self.shards.pool_requests()


async def _call(work: Callable[[httpx.AsyncClient], Awaitable[T]], client: httpx.AsyncClient) -> T:
    return await work(client)

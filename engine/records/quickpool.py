"""A few PostgreSQL connections, handed out and taken back without a pass of the event loop.

For the claims, which are on a call's way to its accept: asyncpg's own pool resets each
connection when it comes back (a round trip to the database) and takes it back in a task
of its own (a pass of the event loop, which under load is the longest wait of all). The
claims leave no state on a connection, so here taking one is a ``pop`` and giving it back an
``append``; a connection that failed or was interrupted is closed, never reused.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

__all__ = ["QuickPool"]


class QuickPool:
    def __init__(self, size: int, **connect_options: Any) -> None:
        self.size = size
        self._options = connect_options
        self._idle: list[Any] = []
        self._open = 0  # connections made and not yet closed (idle or in use)
        # Tasks waiting for a connection; each gets one, or None: "a slot is free, connect".
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()

    async def take(self) -> Any:
        import asyncpg

        while True:
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._open -= 1
            if self._open < self.size:
                self._open += 1
                try:
                    return await asyncpg.connect(**self._options)
                except BaseException:
                    self._open -= 1
                    self._hand(None)
                    raise
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                connection = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    given = waiter.result()
                    if given is not None:
                        self.give(given)  # handed over as we were cancelled: pass it on
                    else:
                        self._hand(None)
                raise
            if connection is not None:
                return connection

    def give(self, connection: Any, *, broken: bool = False) -> None:
        """Back into the pool; ``broken``: the work on it failed or was cut, close it."""
        if broken or connection.is_closed():
            if not connection.is_closed():
                connection.terminate()
            self._open -= 1
            self._hand(None)
            return
        if not self._hand(connection):
            self._idle.append(connection)

    def _hand(self, connection: Any) -> bool:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            self._open -= 1
            try:
                await connection.close(timeout=2)
            except Exception:
                connection.terminate()

"""What the simulator remembers about each call, and waiting on it without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Recorded", "RestRequest", "Waiters"]

T = TypeVar("T")


@dataclass(frozen=True)
class Recorded:
    """One sideband event. ``at`` is ``loop.time()`` (monotonic seconds)."""

    at: float
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type"))


@dataclass
class RestRequest:
    """One REST request as the simulator received it. ``body`` is the parsed JSON (or
    ``None`` for an empty or unparsable body, see ``raw_body``); ``status`` is what the
    simulator answered (``None`` while it is still hanging)."""

    method: str
    path: str
    action: str | None
    call_id: str | None
    body: Any
    raw_body: bytes
    at: float
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None


class Waiters:
    """Predicates re-checked after every change; each wait resolves with the predicate's
    first truthy result or fails with a description of what it waited for."""

    def __init__(self) -> None:
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []

    def notify(self) -> None:
        still: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        for predicate, future in self._pending:
            if future.done():
                continue
            try:
                result = predicate()
            except Exception as exc:  # a broken predicate must fail its test, not hang it
                future.set_exception(exc)
                continue
            if result:
                future.set_result(result)
            else:
                still.append((predicate, future))
        self._pending = still

    async def wait(
        self,
        predicate: Callable[[], T | None],
        timeout: float | None,
        what: str,
        describe: Callable[[], str] | None = None,
    ) -> T:
        result = predicate()
        if result:
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((predicate, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            detail = f" ({describe()})" if describe else ""
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}{detail}") from None

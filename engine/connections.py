"""Deadlines and a cap for the HTTP connections the engine accepts.

The webhook is open to the internet, and uvicorn on its own keeps a connection that sends a
byte now and then open for ever: a few thousand of them used up the process's file
descriptors, real webhooks timed out, and asyncio logged every failed ``accept()`` with a
traceback (190 MB of log in 30 s). Here:

* a connection must send a request's headers within ``header_timeout_s`` of opening (or of
  its last answer), or it is closed; an idle keep-alive connection closes after
  ``keep_alive_s`` (uvicorn's ``timeout_keep_alive``); the webhook's body has its own
  deadline in the route (408, ``EngineSettings.body_timeout_s``);
* at most ``max_connections`` are open at once; one more is answered 503 and closed at once,
  so the process never runs out of descriptors (the default is half the descriptor limit:
  the other half is for calls' sidebands, REST and tool requests);
* if descriptors run out anyway, asyncio's "out of system resource" error is logged once a
  minute with a count, not once per attempt (``engine.logs.RateLimitedErrors``, installed
  by ``setup_logging``);
* during a burst of calls, a webhook's reply closes its connection (``reply_headers``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

from .logs import RateLimitedErrors

__all__ = [
    "BURST_DELIVERIES",
    "ConnectionLimits",
    "default_max_connections",
    "guarded_protocol",
    "reply_headers",
    "serve_config",
]

log = logging.getLogger("engine.connections")

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Connection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n"
)


def default_max_connections() -> int:
    """Half the process's descriptor limit (at most 1,000): room left for the calls."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000
    return max(8, min(1_000, soft // 2))


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    header_timeout_s: float = 10.0
    keep_alive_s: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConnectionLimits:
        """``ENGINE_MAX_CONNECTIONS`` (a whole number, at least 1), else the default."""
        env = os.environ if environ is None else environ
        raw = env.get("ENGINE_MAX_CONNECTIONS", "").strip()
        if not raw:
            return cls(default_max_connections())
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError("ENGINE_MAX_CONNECTIONS must be a whole number of connections")
        return cls(int(raw))


# Webhook deliveries being answered at once (each one waits for its call's accept) from which
# the engine counts itself in a burst.
BURST_DELIVERIES = 16


def reply_headers(answering: int) -> dict[str, str]:
    """Headers for the reply to a webhook delivery while ``answering`` deliveries (this one
    included) are being answered.

    In a burst the reply asks the sender for a new connection next time (``Connection:
    close``). Each reply waits for its call's accept, so a burst holds many of the sender's
    connections at once. A sender whose pool assigns all its queued deliveries to the same
    idle connection (httpcore 1.0.9's does, and the shared load instrument sends with it)
    then sends them one per pass of its event loop, which under a burst is tens of ms each.
    In one run of the instrument at 100 calls at a time, webhook → accept went from 274 ms
    p50 / 2.3 s p95 to 199 ms / 0.54 s (the bare floor's: 230 ms / 0.55 s; over rounds,
    docs/runtime.md's Performance). Kept alive, those connections would also sit idle for
    ``keep_alive_s``, holding slots of ``max_connections`` that the burst's next deliveries
    need. Out of a burst, connections are kept alive: a new one would cost a lone call its
    handshake. Behind a proxy (as docs/deploy.md runs the engine) the header closes only
    the proxy's connection to the engine; it is hop-by-hop and never reaches OpenAI.
    """
    return {"connection": "close"} if answering >= BURST_DELIVERIES else {}


_refusals = RateLimitedErrors("connection limit reached")
log.addFilter(_refusals)


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with a header deadline and a connection cap."""
    base: Any = import_from_string(HTTP_PROTOCOLS["auto"])

    class GuardedHTTPProtocol(base):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                log.warning(
                    "connection limit reached (%d open): new connections are refused",
                    limits.max_connections,
                )
                transport.write(_BUSY)
                transport.close()
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # a request's headers are in: the route's deadlines apply

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self._deadline = self.loop.call_later(limits.header_timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.cycle is None or self.cycle.response_complete:
                self.transport.close()

    return GuardedHTTPProtocol


def serve_config(app: Any, limits: ConnectionLimits, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration ``engine serve`` (and the tests) run the engine with."""
    return uvicorn.Config(
        app,
        http=guarded_protocol(limits),
        # uvicorn annotates an int but hands it to `loop.call_later`, which takes any float
        # (the tests keep connections alive for 0.3 s).
        timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]
        # asyncio accepts up to `backlog` connections in one go before the loop can close
        # the ones over the cap: with the cap at half the descriptors, a quarter of it keeps
        # a burst of refusals from running the process out of descriptors.
        backlog=max(16, min(2048, limits.max_connections // 4)),
        **options,
    )

"""Run the engine's ASGI app on uvicorn inside the current event loop (serve, demo, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator
from types import FrameType

import uvicorn

from .connections import ConnectionLimits, default_max_connections, serve_config
from .server import Engine, create_app

__all__ = ["DrainingServer", "listening_socket", "running_engine"]


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: stop taking calls, let live ones finish, then exit.

    uvicorn's own handler closes the listening socket at once, so a load balancer would see
    refused connections instead of a failing /readyz, and live calls would be cut.
    """

    def __init__(self, config: uvicorn.Config, engine: Engine) -> None:
        super().__init__(config)
        self.engine = engine
        self._drain_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_task is not None or sig not in (signal.SIGTERM, signal.SIGINT):
            super().handle_exit(sig, frame)  # a second signal: stop now
            return
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        self._drain_task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        await self.engine.drain(self.engine.settings.drain_timeout_s)
        self.should_exit = True


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn to listen on.

    IPPROTO_TCP is named, not left 0: asyncio sets TCP_NODELAY on an accepted connection only
    when the listening socket says TCP. Without it, every response on a kept-alive connection
    waited ~40 ms for its body (Nagle's algorithm against the client's delayed ACK)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextlib.asynccontextmanager
async def running_engine(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    limits: ConnectionLimits | None = None,
) -> AsyncIterator[str]:
    """Serve ``engine`` in this loop as ``engine serve`` does (same connection deadlines and
    cap); yields its base URL (``http://127.0.0.1:PORT``)."""
    sock = listening_socket(host, port)
    limits = limits or ConnectionLimits(default_max_connections())
    config = serve_config(create_app(engine), limits, log_level=log_level, lifespan="on")
    server = DrainingServer(config, engine)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()

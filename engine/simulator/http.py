"""A deliberately small HTTP/1.1 server on asyncio streams, with WebSocket upgrade.

Why not uvicorn/Starlette: the simulator must be able to drop a WebSocket's TCP
connection without a close frame (``transport.abort()``), which is what OpenAI does when
a call ends, and that needs the raw transport. websockets' sans-I/O ``ServerProtocol``
does the framing; this module does the bytes. HTTP support is what httpx needs:
``Content-Length`` bodies and keep-alive (so the engine's pooled client is exercised).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["HttpRequest", "HttpResponse", "HttpServer", "json_response"]

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = b""
    path: str = field(init=False)
    query: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        # Keep the path percent-encoded: call ids are opaque and may contain '/'.
        self.path = parts.path
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def path_segments(self) -> list[str]:
        return [unquote(s) for s in self.path.split("/") if s]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None):
    body = json.dumps(payload).encode()
    return HttpResponse(status, body, [("content-type", "application/json"), *(headers or [])])


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]
UpgradeHandler = Callable[
    [HttpRequest, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]
]


class HttpServer:
    """Serves ``on_http`` for plain requests and hands WebSocket upgrades to
    ``on_upgrade`` together with the raw streams."""

    def __init__(self, on_http: HttpHandler, on_upgrade: UpgradeHandler) -> None:
        self._on_http = on_http
        self._on_upgrade = on_upgrade
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections_accepted = 0  # lets tests check that clients reuse connections

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections_accepted += 1
        try:
            await self._connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("simulator: connection handler failed")
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.transport.abort()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # client closed an idle keep-alive connection
            request = _parse_head(head)
            if request is None:
                await _write(writer, HttpResponse(400, b"bad request"), keep_alive=False)
                return
            if (request.header("upgrade") or "").lower() == "websocket":
                await self._on_upgrade(request, reader, writer)
                return
            if request.header("transfer-encoding"):
                await _write(writer, HttpResponse(411, b"length required"), keep_alive=False)
                return
            length = int(request.header("content-length") or 0)
            if length > MAX_BODY_BYTES:
                await _write(writer, HttpResponse(413, b"too large"), keep_alive=False)
                return
            request.body = await reader.readexactly(length) if length else b""
            response = await self._on_http(request)
            keep_alive = (request.header("connection") or "").lower() != "close"
            if writer.is_closing():
                return  # the client gave up (e.g. its timeout fired during a hang fault)
            await _write(writer, response, keep_alive=keep_alive)
            if not keep_alive:
                return


def _parse_head(head: bytes) -> HttpRequest | None:
    try:
        text = head.decode("latin-1")
        lines = text.split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        if not version.startswith("HTTP/1."):
            return None
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    except ValueError:
        return None
    return HttpRequest(method=method, target=target, headers=headers, raw_head=head)


async def _write(writer: asyncio.StreamWriter, response: HttpResponse, *, keep_alive: bool):
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{k}: {v}" for k, v in response.headers]
    lines.append(f"content-length: {len(response.body)}")
    lines.append("connection: keep-alive" if keep_alive else "connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)
    await writer.drain()

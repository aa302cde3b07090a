"""The engine's own listening socket gives its connections TCP_NODELAY.

Without it, a response on a kept-alive connection (headers, then body, in two writes) waited
for the client's delayed ACK: ~40 ms a request for `engine studio`, the demo and the tests.
"""

from __future__ import annotations

import asyncio
import socket

from engine.runner import listening_socket

from helpers import run


def test_connections_accepted_on_the_listening_socket_have_nodelay():
    async def scenario() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        sock = listening_socket("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname())
            try:
                return await asyncio.wait_for(accepted, 5)
            finally:
                writer.close()

    assert run(scenario()) != 0

"""One accepted sideband WebSocket of a simulated call, driven through websockets'
sans-I/O protocol."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from websockets.protocol import State

if TYPE_CHECKING:
    from websockets.server import ServerProtocol

__all__ = ["SidebandConnection"]


class SidebandConnection:
    """One accepted WebSocket, driven through websockets' sans-I/O protocol."""

    def __init__(self, protocol: ServerProtocol, writer: asyncio.StreamWriter) -> None:
        self.protocol = protocol
        self.writer = writer
        self.dropped = False

    def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if self.writer.is_closing():
                return
            if chunk:
                self.writer.write(chunk)
            else:
                self.writer.close()  # the protocol asks for EOF after a close handshake

    @property
    def open(self) -> bool:
        return (
            not self.dropped and not self.writer.is_closing() and self.protocol.state is State.OPEN
        )

    def send(self, event: dict[str, Any]) -> bool:
        if not self.open:
            return False  # closing or gone: events are lost, as on the real service
        self.protocol.send_text(json.dumps(event).encode())
        self.flush()
        return True

    def drop(self, code: int | None = None) -> None:
        """End the connection at once. ``code`` None (or 1006, which is never sent on the
        wire): cut the TCP connection without a close frame (the peer sees 1006). A code:
        send that close frame, then close the connection without waiting for the peer's
        reply (the peer sees the code, then the end of the stream)."""
        if code is not None and code != 1006 and self.open:
            self.protocol.send_close(code, "")  # raises for a code that cannot be sent
            self.flush()
            self.dropped = True
            self.writer.close()  # after the close frame already written
            return
        self.dropped = True
        self.writer.transport.abort()

    def send_raw_text(self, text: str) -> None:
        if self.open:
            self.protocol.send_text(text.encode())
            self.flush()

    def close(self, code: int, reason: str) -> None:
        """A clean close handshake (not what OpenAI is known to do; for tests)."""
        if self.open:
            self.protocol.send_close(code, reason)
            self.flush()

"""The sideband WebSocket of a live SIP call: JSON events in both directions.

The socket lives as long as the call. OpenAI documents no close code: when the caller
hangs up, or after ``hangup``/``refer``, the connection may simply drop without a close
frame (1006). So every way the socket can end is the same thing to us, "the call is
over", and iteration just stops. Sending into a closed socket is not an error either:
``send`` returns ``False`` and the caller's read loop ends on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from engine.openai.config import OpenAIConfig, sideband_url
from engine.openai.errors import CallNotFound, SidebandError

__all__ = ["Sideband", "open_sideband"]

log = logging.getLogger(__name__)

# Session configs with many tools make large session.created/updated events; audio
# deltas are not expected over SIP. 16 MiB leaves room without being unbounded.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class Sideband:
    """One open sideband connection. Obtain it from ``open_sideband``."""

    def __init__(self, call_id: str, connection: ClientConnection) -> None:
        self.call_id = call_id
        self._ws = connection

    @property
    def closed(self) -> bool:
        """True once the connection has ended, however it ended."""
        return self._ws.state is State.CLOSED

    @property
    def close_code(self) -> int | None:
        """The close code received (1006 when the peer dropped without a frame)."""
        return self._ws.close_code

    async def send(self, event: Mapping[str, Any]) -> bool:
        """Send one client event. Returns ``False``, and logs at debug level, when the
        socket is already closed: the call has ended and the read loop will see that."""
        data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        try:
            await self._ws.send(data)
        except ConnectionClosed:
            log.debug("sideband %s closed; dropped %s", self.call_id, event.get("type"))
            return False
        return True

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        """Server events as dicts, in order. Ends (without raising) when the socket closes
        for any reason. Frames that are not a JSON object are logged and skipped."""
        while True:
            try:
                message = await self._ws.recv()
            except ConnectionClosed as exc:
                log.info(
                    "sideband %s ended (code %s)",
                    self.call_id,
                    exc.rcvd.code if exc.rcvd else 1006,
                )
                return
            try:
                event = json.loads(message)
            except (json.JSONDecodeError, UnicodeDecodeError):
                log.warning("sideband %s: skipped a frame that is not JSON", self.call_id)
                continue
            if not isinstance(event, dict):
                log.warning("sideband %s: skipped a frame that is not an object", self.call_id)
                continue
            yield event

    async def close(self) -> None:
        """Close from our side (normal closure). Safe to call more than once."""
        await self._ws.close()


@asynccontextmanager
async def open_sideband(
    config: OpenAIConfig,
    call_id: str,
    *,
    open_timeout_s: float = 10.0,
    close_timeout_s: float = 2.0,
    ping_interval_s: float | None = 20.0,
) -> AsyncIterator[Sideband]:
    """Connect to ``{base}/realtime?call_id=…`` with the API key as a Bearer token.

    Connect only after ``accept`` succeeded. Raises ``CallNotFound`` when the handshake
    is answered 404 (unknown, not yet accepted, or finished call) and ``SidebandError``
    for any other failure to open. Never sends ``OpenAI-Beta``: that selects the old beta
    protocol, with different event names.
    """
    url = sideband_url(config.base_url, call_id)
    try:
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {config.api_key}"},
            open_timeout=open_timeout_s,
            close_timeout=close_timeout_s,
            ping_interval=ping_interval_s,
            ping_timeout=ping_interval_s,
            max_size=MAX_MESSAGE_BYTES,
            # Events are small JSON; skip permessage-deflate's per-message CPU cost.
            compression=None,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status == 404:
            raise CallNotFound(
                "sideband handshake answered 404", call_id=call_id, action="sideband"
            ) from None
        raise SidebandError(
            f"sideband handshake for {call_id} answered HTTP {status}", status=status
        ) from None
    except TimeoutError:
        raise SidebandError(
            f"sideband for {call_id}: no handshake within {open_timeout_s:g}s"
        ) from None
    except (OSError, InvalidHandshake) as exc:
        raise SidebandError(
            f"sideband for {call_id} could not connect: {type(exc).__name__}"
        ) from None
    log.info("sideband %s open", call_id)
    try:
        yield Sideband(call_id, ws)
    finally:
        await ws.close()

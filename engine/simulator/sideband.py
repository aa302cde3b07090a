"""A simulated call's sideband as the server side sees it: the server events the call
sends (recorded, with fresh event ids) and the WebSockets attached to the call.

Events sent while no sideband is attached are recorded but reach nobody, as on the real
service. One socket's framing is engine/simulator/connection.py.
"""

from __future__ import annotations

from typing import Any

from engine.simulator.connection import SidebandConnection
from engine.simulator.environment import Environment
from engine.simulator.records import Recorded
from engine.simulator.state import CallState

__all__ = ["Sideband"]


class Sideband:
    """The server events of one call and the connections they go to."""

    def __init__(self, state: CallState, env: Environment) -> None:
        self._state = state
        self._env = env

    def emit(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a server event with a fresh ``event_id`` first, as the real API does."""
        full = {"type": event["type"], "event_id": self._env.ids.event()}
        full.update({k: v for k, v in event.items() if k != "type"})
        self.send(full)
        return full

    def send(self, event: dict[str, Any]) -> None:
        """Send a server event exactly as given (no ``event_id`` is added)."""
        self._state.server_events.append(Recorded(self._env.now(), event))
        for conn in self._state.connections:
            conn.send(event)
        self._state.changed()

    def error(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        client_event_id: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        """An ``error`` server event; ``client_event_id`` points back at the client event
        it answers."""
        self.emit(
            {
                "type": "error",
                "error": {
                    "type": type_,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": client_event_id,
                },
            }
        )

    # ------------------------------------------------------------------ connections

    def attach(self, conn: SidebandConnection) -> None:
        self._state.connections.append(conn)
        self._state.changed()

    def detach(self, conn: SidebandConnection) -> None:
        conn.dropped = True
        self._state.changed()

    def send_raw_text(self, text: str) -> None:
        """A raw text frame on every open connection (not recorded)."""
        for conn in self._state.connections:
            conn.send_raw_text(text)

    def close(self, code: int, reason: str) -> None:
        """A clean close handshake on every connection."""
        for conn in self._state.connections:
            conn.close(code, reason)

    def drop(self, code: int | None = None) -> None:
        """Drop every connection still up (``SidebandConnection.drop``)."""
        for conn in self._state.connections:
            if not conn.dropped:
                conn.drop(code)
        self._state.changed()

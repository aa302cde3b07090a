"""The interface a telephony provider offers the engine: small, and ours.

``engine.server`` and ``CallDriver`` talk only to these protocols. OpenAI's Realtime SIP
contract implements them in ``engine.openai.platform``; a second contract (GPT-Live) would
implement them again without touching ``CallMachine`` or the flow language.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .actions import Action
from .events import CallEvent
from .incoming import IncomingCall
from .session import SessionSpec

__all__ = ["CallGone", "CallPlatform", "Platform"]


class CallGone(Exception):
    """The platform no longer knows the call: the caller hung up, it was transferred away,
    or it ended otherwise. Routine, not a failure; adapters raise a subclass of it."""


class CallPlatform(Protocol):
    """One live connection to a call (it may drop while the call goes on)."""

    async def send(self, action: Action) -> None:
        """Carry out a sideband action (respond, update the session, a tool output)."""

    def events(self) -> AsyncIterator[CallEvent]:
        """The call's events, in order; ends when the connection ends, however it ends."""
        ...


class Platform(Protocol):
    """Incoming calls and call control."""

    def incoming_call(self, body: bytes, headers: Mapping[str, str]) -> IncomingCall | None:
        """The call a verified webhook announces; None for other events. Raises
        ``WebhookRejected`` for a delivery that is not authentic, ``ValueError`` for a
        malformed one."""
        ...

    async def accept(self, call_id: str, session: SessionSpec) -> None: ...

    async def reject(self, call_id: str, sip_status: int) -> None: ...

    def connect(self, call_id: str) -> AbstractAsyncContextManager[CallPlatform]:
        """Attach to an accepted call. Raises ``CallGone`` when the platform no longer
        knows it, another exception when the connection cannot be opened."""
        ...

    async def refer(self, call_id: str, target: str) -> None:
        """Ask the carrier to transfer the call. Raises ``TimeoutError`` when no answer
        came (the REFER may have gone out), another exception when it was refused."""

    async def hangup(self, call_id: str) -> None:
        """End the call; done once the platform has begun ending it or it is gone."""

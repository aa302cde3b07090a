"""One live OpenAI Realtime SIP call, as the engine's ``CallPlatform``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..call.actions import Action
from ..call.events import CallEvent
from .protocol import client_events, server_event
from .rest import CallControl
from .sideband import Sideband

__all__ = ["OpenAICall"]


@dataclass
class OpenAICall:
    call_id: str
    sideband: Sideband
    control: CallControl

    async def send(self, action: Action) -> None:
        for event in client_events(action):
            await self.sideband.send(event)

    async def events(self) -> AsyncIterator[CallEvent]:
        async for raw in self.sideband:
            event = server_event(raw)
            if event is not None:
                yield event

    async def refer(self, target: str) -> None:
        await self.control.refer(self.call_id, target)

    async def hangup(self) -> None:
        await self.control.hangup(self.call_id)

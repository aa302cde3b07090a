"""OpenAI Realtime over SIP as the engine's ``Platform``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

import httpx

from ..bounded_http import Shards
from ..call.incoming import IncomingCall
from ..call.session import SessionSpec
from .call import OpenAICall
from .config import OpenAIConfig
from .errors import CallControlTimeout, CallNotFound
from .incoming import parse_incoming_call
from .protocol import accept_body
from .rest import CallControl, RetryBudget
from .sideband import open_sideband
from .webhook import verify_webhook

__all__ = ["RealtimePlatform"]


class RealtimePlatform:
    """``client`` is call control's own (see ``CallControl``); ``max_in_flight`` at most its
    pool's ``max_connections``."""

    def __init__(
        self,
        config: OpenAIConfig,
        client: httpx.AsyncClient | Shards,
        *,
        rest_timeout_s: float = 5.0,
        max_in_flight: int = 50,
        budgets: Mapping[str, RetryBudget] | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.control = CallControl(
            client,
            config,
            rest_timeout_s,
            max_in_flight=max_in_flight,
            budgets=budgets,
            on_event=on_event,
        )

    def incoming_call(self, body: bytes, headers: Mapping[str, str]) -> IncomingCall | None:
        event = verify_webhook(body, headers, self.config.webhook_secret)
        lowered = {k.lower(): v for k, v in headers.items()}
        announced = parse_incoming_call(event, lowered.get("webhook-id", ""))
        if announced is None:
            return None
        # What the engine needs of OpenAI's announcement; the rest (the webhook's id, the
        # media security) stays in the adapter.
        return IncomingCall(announced.call_id, announced.sip_headers)

    async def accept(self, call_id: str, session: SessionSpec) -> None:
        await self.control.accept(call_id, accept_body(session))

    async def reject(self, call_id: str, sip_status: int) -> None:
        await self.control.reject(call_id, sip_status)

    @contextlib.asynccontextmanager
    async def connect(self, call_id: str) -> AsyncIterator[OpenAICall]:
        async with open_sideband(self.config, call_id) as sideband:
            yield OpenAICall(call_id, sideband, self.control)

    async def refer(self, call_id: str, target: str) -> None:
        try:
            await self.control.refer(call_id, target)
        except CallControlTimeout as exc:
            # No answer is not a refusal: the REFER may be ringing at the carrier.
            raise TimeoutError(str(exc)) from None

    async def hangup(self, call_id: str) -> None:
        with contextlib.suppress(CallNotFound):  # already gone: what a hangup wants
            await self.control.hangup(call_id)

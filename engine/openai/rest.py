"""REST call control: accept, reject, refer and hang up a SIP call.

Four POSTs under ``{base_url}/realtime/calls/{call_id}/``. Success is ``200`` with an
empty body; errors use OpenAI's ``{"error": {"message", "type", "param", "code"}}``.
A 404 means the call is gone (caller hung up, late webhook retry) and gets its own
exception, because a controller treats it as routine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from engine.openai.config import OpenAIConfig
from engine.openai.errors import CallControlError, CallControlTimeout, CallNotFound

__all__ = ["CallControl"]

log = logging.getLogger(__name__)


class CallControl:
    """Call-control client bound to one OpenAI project.

    Pass the process-wide ``httpx.AsyncClient`` (connection-pooled): opening a client per
    call would pay a TLS handshake on the critical path of answering. Every request has a
    hard deadline of ``timeout_s`` seconds covering connect, upload and response.
    """

    def __init__(
        self, client: httpx.AsyncClient, config: OpenAIConfig, timeout_s: float = 5.0
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._client = client
        self._config = config
        self._timeout_s = timeout_s
        self._base = config.base_url.rstrip("/")

    async def accept(self, call_id: str, session: Mapping[str, Any]) -> None:
        """Answer the call with this session config (``{"type": "realtime", ...}``).

        Leave ``audio.*.format`` out for SIP: the codec is negotiated on the SIP leg.
        """
        await self._post(call_id, "accept", dict(session))

    async def reject(self, call_id: str, status_code: int | None = None) -> None:
        """Decline the call with a SIP status (e.g. 486 Busy Here). Without one, OpenAI
        sends 603 Decline."""
        if status_code is not None:
            if isinstance(status_code, bool) or not isinstance(status_code, int):
                raise TypeError("status_code must be an int")
            if not 300 <= status_code <= 699:
                raise ValueError(f"SIP status for reject must be 300-699, got {status_code}")
        body: dict[str, Any] = {} if status_code is None else {"status_code": status_code}
        await self._post(call_id, "reject", body)

    async def refer(self, call_id: str, target_uri: str) -> None:
        """Ask the trunk to transfer the call (SIP REFER to ``target_uri``, verbatim).

        Success only means the REFER was handed to the SIP provider, not that the
        transfer worked: no event reports the outcome.
        """
        if not target_uri or not target_uri.strip():
            raise ValueError("target_uri must not be empty")
        await self._post(call_id, "refer", {"target_uri": target_uri})

    async def hangup(self, call_id: str) -> None:
        """End the call. The sideband socket closes shortly after."""
        await self._post(call_id, "hangup", None)

    async def _post(self, call_id: str, action: str, body: dict[str, Any] | None) -> None:
        if not call_id:
            raise ValueError("call_id must not be empty")
        url = f"{self._base}/realtime/calls/{quote(call_id, safe='')}/{action}"
        headers = {"Authorization": f"Bearer {self._config.api_key}"}
        started = time.monotonic()
        try:
            # httpx's timeout is per phase (connect, each read...); asyncio.timeout makes
            # it a deadline for the whole exchange, so a trickling server cannot stall us.
            async with asyncio.timeout(self._timeout_s):
                if body is None:
                    response = await self._client.post(
                        url, headers=headers, timeout=self._timeout_s
                    )
                else:
                    response = await self._client.post(
                        url, headers=headers, json=body, timeout=self._timeout_s
                    )
        except (TimeoutError, httpx.TimeoutException):
            log.warning("openai %s %s: no answer within %gs", action, call_id, self._timeout_s)
            raise CallControlTimeout(self._timeout_s, call_id=call_id, action=action) from None
        except httpx.TransportError as exc:
            log.warning("openai %s %s: %s", action, call_id, type(exc).__name__)
            raise CallControlError(
                None,
                f"network error: {type(exc).__name__}: {exc}",
                call_id=call_id,
                action=action,
            ) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        status = response.status_code
        log.info("openai %s %s -> %d (%.0f ms)", action, call_id, status, elapsed_ms)
        if 200 <= status < 300:
            return
        message, code = _error_details(response)
        if status == 404:
            raise CallNotFound(message, code=code, call_id=call_id, action=action)
        raise CallControlError(status, message, code=code, call_id=call_id, action=action)


def _error_details(response: httpx.Response) -> tuple[str, str | None]:
    """``(message, code)`` from an OpenAI error body, or a short fallback."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        message = error.get("message")
        code = error.get("code")
        return (
            str(message) if message else response.reason_phrase or "error",
            str(code) if code is not None else None,
        )
    text = response.text.strip()
    return (text[:200] if text else response.reason_phrase or "error"), None

"""Signed ``realtime.call.incoming`` deliveries, as OpenAI's webhook sender makes them.

Standard Webhooks signing: ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed with the
base64-decoded part of the ``whsec_`` secret. Retries reuse the ``webhook-id`` with a
fresh timestamp. ``PlacedCall.resend`` produces the bad deliveries a webhook endpoint
must refuse (forged, stale, future, unsigned, tampered) and the duplicates it must
ignore (replay, redeliver).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from engine.simulator.call import SimCall

__all__ = [
    "USER_AGENT",
    "Delivery",
    "PlacedCall",
    "WebhookSender",
    "incoming_call_event",
    "sign_webhook",
]

USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
VARIANTS = (
    "redeliver",
    "replay",
    "forged",
    "stale",
    "future",
    "unsigned",
    "tampered",
    "rotated",
)


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def incoming_call_event(
    *,
    event_id: str,
    call_id: str,
    sip_headers: list[dict[str, str]],
    media_security: str | None,
    created_at: int,
) -> dict[str, Any]:
    """The webhook body, field for field as in the reference (§1.3)."""
    data: dict[str, Any] = {"call_id": call_id, "sip_headers": sip_headers}
    if media_security is not None:  # absent when unknown
        data["sip_media_security"] = media_security
    return {
        "object": "event",
        "id": event_id,
        "type": "realtime.call.incoming",
        "created_at": created_at,
        "data": data,
    }


@dataclass(frozen=True)
class Delivery:
    """One POST to the webhook URL: what was sent and how it was answered. ``status`` is
    ``None`` when no HTTP answer came (``error`` says why)."""

    variant: str
    webhook_id: str
    timestamp: int
    status: int | None
    error: str | None
    at: float
    response_body: bytes = b""
    # The reply's headers, names in lower case (``connection: close`` in a burst).
    response_headers: dict[str, str] = field(default_factory=dict)


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, timeout_s: float = 5.0) -> None:
        self._client = client
        self.timeout_s = timeout_s

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        secret: str | None,
        webhook_id: str,
        timestamp: int,
        signature: str | None = None,
        variant: str = "original",
    ) -> Delivery:
        """POST ``body``. Signs it with ``secret`` unless an explicit ``signature`` is
        given; ``secret=None`` and no signature sends it unsigned."""
        headers = {
            "user-agent": USER_AGENT,
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
        }
        if signature is None and secret is not None:
            signature = sign_webhook(secret, webhook_id, timestamp, body)
        if signature is not None:
            headers["webhook-signature"] = signature
        at = time.monotonic()
        try:
            # httpx's own timeouts only: cancelling a request while the pool is contended (a
            # burst of webhooks) can wedge httpcore's pool for good (encode/httpcore#1093).
            response = await self._client.post(
                url, content=body, headers=headers, timeout=self.timeout_s
            )
        except httpx.TimeoutException:
            return Delivery(variant, webhook_id, timestamp, None, "timeout", at)
        except httpx.TransportError as exc:
            return Delivery(variant, webhook_id, timestamp, None, type(exc).__name__, at)
        return Delivery(
            variant,
            webhook_id,
            timestamp,
            response.status_code,
            None,
            at,
            response.content,
            dict(response.headers),
        )


@dataclass
class PlacedCall:
    """Handle on a call announced by webhook. ``call`` is the simulated call; ``event``
    and ``body`` are exactly what was delivered."""

    call: SimCall
    url: str
    secret: str
    webhook_id: str
    event: dict[str, Any]
    body: bytes
    sender: WebhookSender
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        """HTTP status of the last delivery (``None``: no answer)."""
        return self.deliveries[-1].status if self.deliveries else None

    @property
    def call_id(self) -> str:
        return self.call.call_id

    async def resend(self, variant: str = "redeliver", *, skew_s: int = 600) -> int | None:
        """Send this webhook again, honestly or not; returns the HTTP status.

        ``redeliver``: a retry (same id, fresh timestamp). ``replay``: byte-identical
        to the first delivery. ``forged``: signed with another key. ``stale`` /
        ``future``: timestamp ``skew_s`` in the past / future, correctly signed.
        ``unsigned``: no signature header. ``tampered``: body changed after signing.
        ``rotated``: two signatures, an unknown key's first, then the valid one (what
        a receiver sees during secret rotation; it must be accepted).
        """
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        now = int(time.time())
        body = self.body
        secret: str | None = self.secret
        signature: str | None = None
        ts = now
        if variant == "replay":
            first = self.deliveries[0] if self.deliveries else None
            ts = first.timestamp if first else now
        elif variant == "forged":
            secret = "whsec_" + base64.b64encode(b"not-the-secret-key-000000000000").decode()
        elif variant == "stale":
            ts = now - skew_s
        elif variant == "future":
            ts = now + skew_s
        elif variant == "unsigned":
            secret = None
        elif variant == "tampered":
            signature = sign_webhook(self.secret, self.webhook_id, ts, body)
            body = body.replace(b"realtime.call.incoming", b"realtime.call.incominG")
        elif variant == "rotated":
            old = "whsec_" + base64.b64encode(b"previous-secret-key-0000000000").decode()
            signature = " ".join(
                (
                    sign_webhook(old, self.webhook_id, ts, body),
                    sign_webhook(self.secret, self.webhook_id, ts, body),
                )
            )
        delivery = await self.sender.post(
            self.url,
            body,
            secret=secret,
            webhook_id=self.webhook_id,
            timestamp=ts,
            signature=signature,
            variant=variant,
        )
        self.deliveries.append(delivery)
        return delivery.status


def encode_body(event: dict[str, Any]) -> bytes:
    # ", " / ": " separators: a receiver that re-serialises compactly before verifying
    # fails, as it would against the real sender.
    return json.dumps(event).encode()

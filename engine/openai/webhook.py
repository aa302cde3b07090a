"""Verification of OpenAI's signed webhook deliveries, and a replay guard.

OpenAI signs webhooks per Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` (one or more space-separated ``v1,<base64>``) over
``f"{id}.{timestamp}.{raw body}"`` with HMAC-SHA256. Verification must run on the raw
bytes as received: re-serialised JSON no longer matches.
"""

from __future__ import annotations

import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from engine.openai.config import check_webhook_secret
from engine.openai.errors import ConfigError, WebhookRejected

__all__ = ["ReplayGuard", "verify_webhook"]

DEFAULT_TOLERANCE_S = 300


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify one delivery and return its JSON body as a dict.

    Raises ``WebhookRejected`` (answer 400) for missing headers, a timestamp outside
    ``tolerance_s`` either way, no matching ``v1`` signature, or a body that is not a
    JSON object. ``now`` (unix seconds) is injectable for tests.

    The HMAC itself is computed by ``standardwebhooks``; header parsing, the clock and
    the comparison are done here because ``Webhook.verify`` hard-codes a 5-minute
    tolerance and the wall clock, and raises ``ValueError`` instead of its own error on a
    malformed signature list.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "").strip()
    timestamp = lowered.get("webhook-timestamp", "").strip()
    signatures = lowered.get("webhook-signature", "").strip()
    missing = [
        name
        for name, value in (
            ("webhook-id", msg_id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signatures),
        )
        if not value
    ]
    if missing:
        raise WebhookRejected(f"missing header(s): {', '.join(missing)}")

    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookRejected("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if current - ts > tolerance_s:
        raise WebhookRejected(f"stale timestamp ({int(current - ts)}s old)")
    if ts - current > tolerance_s:
        raise WebhookRejected(f"timestamp in the future ({int(ts - current)}s ahead)")

    try:
        check_webhook_secret(secret, name="webhook secret")
        signer = Webhook(secret)
    except ConfigError as exc:  # a deployment error, but never let it pass as verified
        raise WebhookRejected(f"server misconfigured: {exc}") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected("body is not UTF-8") from None
    stamp = datetime.fromtimestamp(ts, tz=UTC)
    expected = signer.sign(msg_id=msg_id, timestamp=stamp, data=text).encode()

    matched = False
    for part in signatures.split():
        # Compare every candidate in constant time; a rotated secret yields several.
        if part.startswith("v1,") and hmac.compare_digest(expected, part.encode()):
            matched = True
    if not matched:
        raise WebhookRejected("no matching signature")

    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        raise WebhookRejected("body is not valid JSON") from None
    except RecursionError:  # thousands of nested brackets: refused, not a 500
        raise WebhookRejected("body is nested too deeply") from None
    if not isinstance(event, dict):
        raise WebhookRejected("body is not a JSON object")
    if _depth(event) > MAX_JSON_DEPTH:
        raise WebhookRejected("body is nested too deeply")
    return event


# A realtime.call.incoming event is 4 levels deep; anything far deeper is not one, and code
# that walks it (logging, copying) must never meet a structure deep enough to overflow.
MAX_JSON_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (without recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


class ReplayGuard:
    """Remembers delivery ids (``webhook-id``, or ``call_id``) for ``ttl_s`` seconds.

    Deliveries are at-least-once and retries reuse the ``webhook-id``, so the webhook
    route asks ``seen_before(id)`` and does nothing the second time. Bounded: at most
    ``max_entries`` ids are kept; beyond that the oldest is forgotten first. All
    operations are O(1) amortised. No locks: it is meant for one asyncio event loop,
    where ``seen_before`` runs to completion without interruption, so "check and record"
    is atomic.
    """

    def __init__(
        self,
        ttl_s: float = 3600.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0 or max_entries <= 0:
            raise ValueError("ttl_s and max_entries must be positive")
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        # key -> expiry; insertion order equals expiry order because the TTL is constant
        # and the clock is monotonic, so expired keys are always at the front.
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen_before(self, key: str) -> bool:
        """Return True if ``key`` was recorded within the TTL; otherwise record it and
        return False."""
        now = self._clock()
        self._expire(now)
        if key in self._seen:
            return True
        self._seen[key] = now + self._ttl
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return False

    def forget(self, key: str) -> None:
        """Drop ``key``, e.g. when handling the first delivery failed and a retry should
        be processed again."""
        self._seen.pop(key, None)

    def __len__(self) -> int:
        self._expire(self._clock())
        return len(self._seen)

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            key, expiry = next(iter(seen.items()))
            if expiry > now:
                break
            del seen[key]

"""Ids in the shapes the real API uses, from a seeded generator so runs are repeatable.

Observed shapes: ``event_`` + 21 alphanumerics (server events), ``resp_``/``item_`` +
21 alphanumerics, ``call_`` + 16 alphanumerics (function-call ids, e.g.
``call_sHlR7iaFwQ2YQOqm``), ``rtc_`` + 32 hex (SIP call ids), ``evt_`` + 32 hex (webhook
events), ``wh_`` + 32 hex (webhook deliveries), ``sess_``/``conv_`` + 21 alphanumerics.
The exact alphabet and lengths are not documented; only the prefixes matter to clients.
"""

from __future__ import annotations

import random
import string

__all__ = ["IdFactory"]

_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


class IdFactory:
    """Deterministic for a given seed (and order of calls)."""

    def __init__(self, seed: int | None = 0) -> None:
        self.rng = random.Random(seed)

    def _chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def event(self) -> str:
        return "event_" + self._chars(_ALNUM, 21)

    def response(self) -> str:
        return "resp_" + self._chars(_ALNUM, 21)

    def item(self) -> str:
        return "item_" + self._chars(_ALNUM, 21)

    def tool_call(self) -> str:
        return "call_" + self._chars(_ALNUM, 16)

    def session(self) -> str:
        return "sess_" + self._chars(_ALNUM, 21)

    def conversation(self) -> str:
        return "conv_" + self._chars(_ALNUM, 21)

    def rtc_call(self) -> str:
        return "rtc_" + self._chars(_HEX, 32)

    def webhook_event(self) -> str:
        return "evt_" + self._chars(_HEX, 32)

    def webhook_delivery(self) -> str:
        return "wh_" + self._chars(_HEX, 32)

    def request(self) -> str:
        return "req_" + self._chars(_HEX, 32)

    def hex(self, n: int) -> str:
        return self._chars(_HEX, n)

    def digits(self, n: int) -> str:
        return self._chars(string.digits, n)

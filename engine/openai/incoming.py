"""The ``realtime.call.incoming`` webhook event, parsed into what a call controller reads.

SIP headers arrive as an ordered list of ``{name, value}`` pairs, exactly as in the
INVITE (minus authorization headers): names keep the sender's case, headers can repeat,
and a SIP stack may use the compact one-letter forms. ``IncomingCall.header`` hides all
of that. The values are untrusted: anyone who can reach the trunk can set them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["COMPACT_HEADER_NAMES", "INCOMING_CALL_EVENT", "IncomingCall", "parse_incoming_call"]

INCOMING_CALL_EVENT = "realtime.call.incoming"

# Compact forms of SIP header names. RFC 3261 §7.3.3 defines c, e, f, i, k, l, m, s, t, v;
# the rest come from extensions that phone carriers actually use (REFER, events, session
# timers, caller preferences, identity), so a header sent in compact form still matches.
COMPACT_HEADER_NAMES: Mapping[str, str] = {
    "c": "content-type",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "s": "subject",
    "t": "to",
    "v": "via",
    "o": "event",  # RFC 6665
    "u": "allow-events",  # RFC 6665
    "r": "refer-to",  # RFC 3515
    "b": "referred-by",  # RFC 3892
    "x": "session-expires",  # RFC 4028
    "a": "accept-contact",  # RFC 3841
    "j": "reject-contact",  # RFC 3841
    "d": "request-disposition",  # RFC 3841
    "y": "identity",  # RFC 8224
}


def _canonical(name: str) -> str:
    lowered = name.strip().lower()
    return COMPACT_HEADER_NAMES.get(lowered, lowered)


@dataclass(frozen=True)
class IncomingCall:
    """A pending SIP call, waiting for accept or reject.

    ``call_id`` is OpenAI's id (``rtc_…``): pass it unchanged to every REST call and to
    the sideband. It is not the SIP ``Call-ID`` header, which is the trunk's dialog id.
    ``media_security`` is ``"srtp"``, ``"rtp"``, another string, or ``None`` when OpenAI
    did not say; treat unrecognised values as unknown.
    """

    call_id: str
    webhook_id: str
    sip_headers: tuple[tuple[str, str], ...]
    media_security: str | None = None

    def headers(self, name: str) -> list[str]:
        """Every value of header ``name`` in INVITE order. Case-insensitive; long and
        compact names match each other (``header("From")`` also finds ``f``)."""
        wanted = _canonical(name)
        return [value for key, value in self.sip_headers if _canonical(key) == wanted]

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or ``None``."""
        wanted = _canonical(name)
        for key, value in self.sip_headers:
            if _canonical(key) == wanted:
                return value
        return None


def parse_incoming_call(event: Mapping[str, Any], webhook_id: str) -> IncomingCall | None:
    """Parse a verified webhook body.

    Returns ``None`` for any event type other than ``realtime.call.incoming`` (the caller
    answers those 200 and moves on). Raises ``ValueError`` saying which field is wrong
    for a malformed ``realtime.call.incoming``. Branches on the ``type`` string only:
    new event types must not be mistaken for calls.
    """
    if event.get("type") != INCOMING_CALL_EVENT:
        return None
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise ValueError("realtime.call.incoming: 'data' is missing or not an object")
    call_id = data.get("call_id")
    if not isinstance(call_id, str) or not call_id.strip():
        raise ValueError("realtime.call.incoming: 'data.call_id' is missing or not a string")
    raw_headers = data.get("sip_headers", [])
    if not isinstance(raw_headers, list):
        raise ValueError("realtime.call.incoming: 'data.sip_headers' is not a list")
    headers: list[tuple[str, str]] = []
    for index, entry in enumerate(raw_headers):
        if not (
            isinstance(entry, Mapping)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("value"), str)
        ):
            raise ValueError(
                f"realtime.call.incoming: 'data.sip_headers[{index}]' is not "
                "an object with string 'name' and 'value'"
            )
        headers.append((entry["name"], entry["value"]))
    security = data.get("sip_media_security")
    if security is not None and not isinstance(security, str):
        raise ValueError("realtime.call.incoming: 'data.sip_media_security' is not a string")
    return IncomingCall(
        call_id=call_id,
        webhook_id=webhook_id,
        sip_headers=tuple(headers),
        media_security=security,
    )

"""The ``realtime.call.incoming`` webhook event, parsed into what a call controller reads.

SIP headers arrive as an ordered list of ``{name, value}`` pairs, exactly as in the
INVITE (minus authorization headers): names keep the sender's case, headers can repeat,
and a SIP stack may use the compact one-letter forms. ``IncomingCall.header`` hides all
of that. The values are untrusted: anyone who can reach the trunk can set them.

This is OpenAI's announcement, with its own details (the webhook's id, the media security
OpenAI reports). The engine itself reads the provider-neutral ``engine.call.IncomingCall``,
which ``RealtimePlatform.incoming_call`` makes from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..call.incoming import COMPACT_HEADER_NAMES, header_values

__all__ = ["COMPACT_HEADER_NAMES", "INCOMING_CALL_EVENT", "IncomingCall", "parse_incoming_call"]

INCOMING_CALL_EVENT = "realtime.call.incoming"


@dataclass(frozen=True)
class IncomingCall:
    """OpenAI's announcement of a pending SIP call, waiting for accept or reject.

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
        return header_values(self.sip_headers, name)

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or ``None``."""
        values = header_values(self.sip_headers, name)
        return values[0] if values else None


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

"""A call waiting to be answered, as the engine sees it whatever platform announced it.

A platform adapter (``engine.openai``) parses its own announcement (a signed webhook, for
OpenAI) and hands the engine this: the platform's id for the call, which every call-control
request names, and the SIP headers of the INVITE, in order, exactly as they came (names keep
the sender's case, headers can repeat, a SIP stack may use the compact one-letter forms).
``IncomingCall.header`` hides all of that. The values are untrusted: anyone who can reach the
trunk can set them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["COMPACT_HEADER_NAMES", "IncomingCall", "header_values"]

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


def header_values(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    """Every value of header ``name`` in INVITE order. Case-insensitive; long and compact
    names match each other (``From`` also finds ``f``)."""
    wanted = _canonical(name)
    return [value for key, value in headers if _canonical(key) == wanted]


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A pending SIP call, waiting for accept or reject.

    ``call_id`` is the platform's id for the call (OpenAI's ``rtc_…``): pass it unchanged to
    every call-control request. It is not the SIP ``Call-ID`` header, which is the trunk's
    dialog id.
    """

    call_id: str
    sip_headers: tuple[tuple[str, str], ...]

    def headers(self, name: str) -> list[str]:
        """Every value of header ``name`` in INVITE order (see ``header_values``)."""
        return header_values(self.sip_headers, name)

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or ``None``."""
        values = header_values(self.sip_headers, name)
        return values[0] if values else None

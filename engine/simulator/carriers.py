"""SIP INVITE headers as different carriers send them, for ``realtime.call.incoming``.

Shapes follow what the trunks put on the wire (display names, ``;tag=``, ``;user=phone``,
a ``Contact`` with the carrier edge's IP, ``P-Asserted-Identity``, ``Via``,
``Max-Forwards``, ``CSeq``, ``Content-Type`` and ``X-`` headers). IPs are from the
documentation ranges (RFC 5737) so no test ever talks to a real carrier. Exact header
sets vary per carrier account and configuration; these are representative, not exact.
OpenAI strips authorization headers before forwarding, so none appear here.
"""

from __future__ import annotations

from engine.simulator.ids import IdFactory

__all__ = ["CARRIERS", "sip_headers_for"]

CARRIERS = ("twilio", "bandwidth", "wavix", "telnyx", "plain")

OPENAI_SIP_HOST = "sip.api.openai.com"


def sip_headers_for(
    carrier: str,
    *,
    from_: str,
    to: str,
    ids: IdFactory,
    caller_name: str | None = None,
    anonymous: bool = False,
    project_id: str = "proj_simulated",
) -> list[dict[str, str]]:
    """Headers for a call from ``from_`` to ``to`` (E.164 strings) via ``carrier``."""
    if carrier not in CARRIERS:
        raise ValueError(f"unknown carrier {carrier!r}; choose one of {', '.join(CARRIERS)}")
    tag = ids.hex(8)
    branch = "z9hG4bK" + ids.hex(16)
    pairs: list[tuple[str, str]]
    if carrier == "plain":
        # The shape of OpenAI's own documentation example.
        pairs = [
            ("From", f"sip:{from_}@sip.example.com"),
            ("To", f"sip:{to}@sip.example.com"),
            ("Call-ID", f"{ids.hex(8)}-{ids.hex(4)}-{ids.hex(4)}-{ids.hex(4)}-{ids.hex(12)}"),
        ]
    elif carrier == "twilio":
        edge = "198.51.100.21"
        name = caller_name or from_
        pairs = [
            ("Via", f"SIP/2.0/TLS {edge}:5061;branch={branch};rport"),
            ("Max-Forwards", "69"),
            ("From", f'"{name}" <sip:{from_}@simulated.pstn.twilio.com>;tag={tag}_6772d868_'),
            ("To", f"<sip:{to}@{project_id}.{OPENAI_SIP_HOST}>"),
            ("Call-ID", f"{ids.hex(32)}@0.0.0.0"),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:{from_}@{edge}:5061;transport=tls>"),
            ("Allow", "INVITE,ACK,CANCEL,OPTIONS,BYE,REFER,NOTIFY"),
            ("User-Agent", "Twilio Gateway"),
            ("P-Asserted-Identity", f'"{name}" <sip:{from_}@{edge}>'),
            ("X-Twilio-CallSid", "CA" + ids.hex(32)),
            ("Content-Type", "application/sdp"),
        ]
    elif carrier == "bandwidth":
        edge = "203.0.113.202"
        pairs = [
            ("Via", f"SIP/2.0/TLS {edge}:5061;branch={branch}"),
            ("Via", f"SIP/2.0/UDP 203.0.113.176:5060;branch=z9hG4bK{ids.hex(10)}"),
            ("Max-Forwards", "68"),
            ("From", f"<sip:{from_}@{edge};user=phone>;tag=gK0{ids.hex(7)}"),
            ("To", f"<sip:{to}@{OPENAI_SIP_HOST};user=phone>"),
            ("Call-ID", f"{ids.digits(10)}_{ids.digits(9)}@203.0.113.176"),
            ("CSeq", f"{ids.digits(6)} INVITE"),
            ("Contact", f"<sip:{from_}@{edge}:5061;transport=tls>"),
            ("P-Asserted-Identity", f"<sip:{from_}@{edge}:5060;user=phone>"),
            ("Supported", "timer"),
            ("Session-Expires", "1800"),
            ("Content-Type", "application/sdp"),
        ]
    elif carrier == "wavix":
        edge = "192.0.2.45"
        # Wavix presents numbers without the leading '+': an E.164 pitfall for routing.
        bare_from, bare_to = from_.lstrip("+"), to.lstrip("+")
        name = caller_name or bare_from
        pairs = [
            ("Via", f"SIP/2.0/TLS {edge}:5061;branch={branch}"),
            ("Max-Forwards", "70"),
            ("From", f'"{name}" <sip:{bare_from}@{edge}>;tag={tag}'),
            ("To", f"<sip:{bare_to}@{OPENAI_SIP_HOST}>"),
            ("Call-ID", f"{ids.hex(24)}@{edge}"),
            ("CSeq", "102 INVITE"),
            ("Contact", f"<sip:{bare_from}@{edge}:5061;transport=tls>"),
            ("User-Agent", "Wavix"),
            ("Content-Type", "application/sdp"),
        ]
    else:  # telnyx
        edge = "198.51.100.130"
        name = caller_name or "WIRELESS CALLER"
        pairs = [
            ("Via", f"SIP/2.0/TLS {edge}:5061;branch={branch}"),
            ("Max-Forwards", "70"),
            ("From", f'"{name}" <sip:{from_}@sip.telnyx.com>;tag={tag}'),
            ("To", f"<sip:{to}@{OPENAI_SIP_HOST}>"),
            ("Call-ID", f"{ids.hex(8)}-{ids.hex(4)}-{ids.hex(4)}-{ids.hex(4)}-{ids.hex(12)}"),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:{from_}@{edge}:5061;transport=tls>"),
            ("User-Agent", "Telnyx SIP Proxy"),
            ("P-Asserted-Identity", f"<sip:{from_}@sip.telnyx.com>"),
            ("X-Telnyx-Session-ID", f"{ids.hex(8)}-{ids.hex(4)}-{ids.hex(4)}"),
            ("Content-Type", "application/sdp"),
        ]
    if anonymous:
        pairs = [(k, v) for k, v in pairs if k != "From"]
        pairs.insert(0, ("From", f'"Anonymous" <sip:anonymous@anonymous.invalid>;tag={tag}'))
        pairs.append(("Privacy", "id"))
        if not any(k == "P-Asserted-Identity" for k, _ in pairs):
            pairs.append(("P-Asserted-Identity", f"<sip:{from_}@203.0.113.1>"))
    return [{"name": k, "value": v} for k, v in pairs]

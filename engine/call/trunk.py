"""Transfer targets: the REFER URI a rendered ``transfer:`` target becomes, by carrier.

The ``refer`` endpoint puts ``target_uri`` verbatim into the SIP ``Refer-To`` header, and
whether a transfer then happens is up to the carrier. A target written as a
``sip:``/``sips:``/``tel:`` URI is sent as written. A bare E.164 number becomes the URI
the flow's ``trunk`` preset names:

- none: ``tel:+NUMBER`` (the form OpenAI's refer docs show);
- ``bandwidth``: ``sip:+NUMBER@<host of the INVITE's Contact>`` (Bandwidth's OpenAI SIP
  guide: REFER to a ``tel:`` URI is not supported; the host is the Contact header's);
- ``wavix``: ``sip:NUMBER@<region>.wavix.net``, digits without ``+`` (Wavix's guide:
  ``sip:14067704205@us.wavix.net``);
- ``twilio``: ``sip:+NUMBER@<termination domain>`` (``NAME.pstn.twilio.com``), or
  ``tel:+NUMBER`` without a domain; a ``sip:`` URI with an IP host is refused (403);
- ``telnyx``: ``sip:+NUMBER@<domain, default sip.telnyx.com>`` (Telnyx "External call
  transfers": ``Refer-To: <sip:+13035559876@sip.telnyx.com>``);
- ``custom``: ``trunk.uri`` rendered with ``number`` (``+…``), ``digits`` (no ``+``) and
  the call's template context.

Nothing from the caller or the model reaches the URI except through what the flow wrote:
a number is reduced to ``+`` and digits, the Contact host must look like a host, and a
URI with spaces, control characters or ``<>"`` (which could break out of the header) is
refused.

How long a transfer may take before it counts as failed is the preset's too: the flow model
fills in ``trunk.transfer_wait`` from ``TRANSFER_WAITS`` (``engine/flow/model.py``) when the
flow does not set it, because the call machine reads it as a plain number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..flow.model import Trunk
from ..flow.numbers import normalize_number
from ..flow.templates import TemplateError, render

__all__ = ["TELNYX_DOMAIN", "transfer_uri"]

TELNYX_DOMAIN = "sip.telnyx.com"

_SCHEMES = ("sip:", "sips:", "tel:")
# A number as people write it: a leading + then digits and visual separators.
_WRITTEN_NUMBER = re.compile(r"^\+[0-9][0-9\s\-.()]*$")
# Characters a URI cannot hold and a header must not receive.
_UNSAFE = re.compile(r'[\s<>"\x00-\x1f\x7f]')
_HOST = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+\]"  # IPv6 literal
    r"|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?)$"
)


def transfer_uri(target: str, trunk: Trunk, context: Mapping[str, Any]) -> str | None:
    """The REFER ``target_uri`` for an already rendered ``target``, or None when there is
    none to send (not a URI or E.164 number, the carrier's host unknown, a custom
    template that fails or does not give a URI)."""
    target = target.strip()
    if not target:
        return None
    if target.lower().startswith(_SCHEMES):
        return _safe_uri(target)
    if not _WRITTEN_NUMBER.fullmatch(target):
        return None
    number = normalize_number(target)
    if number is None:
        return None
    return _preset_uri(number, trunk, context)


def _preset_uri(number: str, trunk: Trunk, context: Mapping[str, Any]) -> str | None:
    digits = number[1:]
    carrier = trunk.carrier
    if carrier is None:
        return f"tel:{number}"
    if carrier == "bandwidth":
        call = context.get("call")
        host = call.get("contact_host") if isinstance(call, Mapping) else None
        return f"sip:{number}@{host}" if _is_host(host) else None
    if carrier == "wavix":
        region = (trunk.region or "").strip()
        host = f"{region}.wavix.net"
        return f"sip:{digits}@{host}" if region and _is_host(host) else None
    if carrier == "twilio":
        domain = (trunk.domain or "").strip()
        if not domain:
            return f"tel:{number}"
        return f"sip:{number}@{domain}" if _is_host(domain) else None
    if carrier == "telnyx":
        domain = (trunk.domain or "").strip() or TELNYX_DOMAIN
        return f"sip:{number}@{domain}" if _is_host(domain) else None
    if carrier == "custom":
        return _custom_uri(trunk.uri, number, digits, context)
    return None


def _custom_uri(
    template: str | None, number: str, digits: str, context: Mapping[str, Any]
) -> str | None:
    if not template:
        return None
    try:
        rendered = render(template, {**context, "number": number, "digits": digits})
    except TemplateError:
        return None
    rendered = rendered.strip()
    if not rendered.lower().startswith(_SCHEMES):
        return None
    return _safe_uri(rendered)


def _safe_uri(uri: str) -> str | None:
    """The URI as written, unless it is empty after the scheme or could break the header."""
    if not uri.partition(":")[2] or _UNSAFE.search(uri):
        return None
    return uri


def _is_host(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 255 and _HOST.fullmatch(value) is not None

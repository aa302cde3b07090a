"""What a transfer may reach: the trunk's allow-list, premium-rate and other countries' numbers.

In telephony the attack that costs money is toll fraud: a caller talks the agent into
transferring to a premium-rate or far-away number and the flow's owner pays. So a transfer
target, once rendered, is checked against the flow's ``trunk.allow`` list:

* an entry starting with ``+`` is a number prefix (``"+1800"``); with any listed, a number
  must start with one of them;
* any other entry is a SIP host (``"pbx.example.com"``, matched exactly, case aside); with
  any listed, a ``sip:`` target must be at one of them;
* whatever the list says, a premium-rate number (``PREMIUM_PREFIXES``) or a number in
  another country than the flow's own numbers needs a listed prefix that covers it: ``"+1"``
  does not open ``+1900…``; ``"+1900555"`` does. Without a prefix list, numbers in the
  flow's own countries (other than premium-rate) may be reached.

A number inside a ``sip:`` address counts as a number: ``sip:+19005550100@sip.carrier.example``
is a premium-rate call however it is written. The user part of a ``sip:`` address is read as
a number when it is ``+`` and digits, digits after ``00`` or ``011``, 11 digits or more, or
(for a flow with ``+1`` numbers) 10 digits; shorter digits are an extension.

North American numbers share ``+1`` with twenty Caribbean and Atlantic countries; those area
codes (``NANP_ABROAD``) count as countries of their own, the classic "one ring" scam.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .model import Flow
from .numbers import is_e164

__all__ = [
    "NANP_ABROAD",
    "PREMIUM_PREFIXES",
    "country_of",
    "host_in",
    "number_in",
    "reach_problem",
    "target_shape",
]

# Premium-rate and mass-call ranges, in E.164: reaching them costs the caller's owner money
# by design. NANP 900 and 976; UK 09 and 0871-0873; Germany 0900 and 0137; France 089x;
# Australia 190x; ITU's International Premium Rate Service (+979).
PREMIUM_PREFIXES = (
    "+1900",
    "+1976",
    "+449",
    "+44871",
    "+44872",
    "+44873",
    "+49900",
    "+49137",
    "+3389",
    "+61190",
    "+979",
)
# NANP area codes that are other countries (billed as international calls).
NANP_ABROAD = frozenset(
    "242 246 264 268 284 345 441 473 649 658 664 721 758 767 784 809 829 849 868 869 876".split()  # noqa: SIM905
)
# ITU country codes of two digits; +1 and +7 are the only ones of one, the rest have three
# (country codes are prefix-free, so this decides every number's code).
_TWO_DIGIT_CODES = frozenset(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 "  # noqa: SIM905
    "62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split()
)
# A transfer target as the engine sends it: `sip:`/`sips:` with a user part that holds no
# `@ ; ? : / # ,`, spaces or header-breaking characters, a host, an optional port and
# `;params`; or `tel:` and an E.164 number with optional `;params`.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PARAMS = r"(?P<params>(?:;[A-Za-z0-9\-_.!~*'%]+(?:=[A-Za-z0-9\-_.!~*'%\[\]:]+)?)*)"
_SIP = re.compile(
    r"^(?P<scheme>sips?):"
    r"(?:(?P<user>[^@;?:/#,\s<>\"\\\x00-\x1f\x7f]+)@)?"
    rf"(?P<host>\[[0-9A-Fa-f:.]+\]|{_LABEL}(?:\.{_LABEL})*\.?)"
    r"(?::(?P<port>[0-9]{1,5}))?" + _PARAMS + "$",
    re.IGNORECASE,
)
_TEL = re.compile(r"^tel:(?P<number>\+[1-9][0-9]{1,14})" + _PARAMS + "$", re.IGNORECASE)
_SIP_USER_HOST = re.compile(r"^sips?:(?:(?P<user>[^@]*)@)?(?P<host>[^:;?]*)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s\-.()]")


def target_shape(target: str) -> tuple[str, ...] | None:
    """What of a rendered target the flow decides: the scheme, host, port and params of a
    ``sip:`` address; ``tel`` and its params, or ``number``, for numbers. None: the target is
    not well formed."""
    match = _SIP.fullmatch(target)
    if match:
        host = match.group("host").lower().rstrip(".")
        return (match.group("scheme").lower(), host, match.group("port") or "", match["params"])
    tel = _TEL.fullmatch(target)
    if tel:
        return ("tel", tel["params"])
    return ("number",) if is_e164(_SEPARATORS.sub("", target)) else None


def country_of(number: str) -> str:
    """The country code of an E.164 number with its ``+`` (``"+44"``); a NANP area code in
    another country gives ``"+1NPA"`` (``"+1876"`` for Jamaica)."""
    digits = number[1:]
    if digits.startswith("1"):
        return f"+1{digits[1:4]}" if digits[1:4] in NANP_ABROAD else "+1"
    if digits.startswith("7"):
        return "+7"
    return "+" + (digits[:2] if digits[:2] in _TWO_DIGIT_CODES else digits[:3])


def own_countries(flow: Flow) -> frozenset[str]:
    return frozenset(country_of(n) for n in flow.numbers if is_e164(n))


def number_in(target: str, flow: Flow) -> str | None:
    """The E.164 number a rendered target dials, or None (a ``sip:`` extension or name)."""
    text = target.strip()
    lowered = text.lower()
    if lowered.startswith("tel:"):
        text = text[4:].split(";", 1)[0]
    elif lowered.startswith(("sip:", "sips:")):
        match = _SIP_USER_HOST.match(text)
        user = (match.group("user") if match else None) or ""
        return _user_number(user.split(";", 1)[0], flow)
    text = _SEPARATORS.sub("", text)
    return text if is_e164(text) else None


def _user_number(user: str, flow: Flow) -> str | None:
    user = _SEPARATORS.sub("", user)
    if is_e164(user):
        return user
    if not user.isdigit():
        return None
    for prefix in ("011", "00"):
        if user.startswith(prefix) and is_e164("+" + user[len(prefix) :]):
            return "+" + user[len(prefix) :]
    if len(user) >= 11 and is_e164("+" + user):
        return "+" + user
    if len(user) == 10 and user[0] in "23456789" and "+1" in own_countries(flow):
        return "+1" + user
    return None


def host_in(target: str) -> str | None:
    """The host of a ``sip:``/``sips:`` target, lower case; None for numbers and ``tel:``."""
    match = _SIP_USER_HOST.match(target.strip())
    return match.group("host").lower() if match and match.group("host") else None


def reach_problem(target: str, flow: Flow) -> str | None:
    """Why the flow may not transfer to this rendered target, or None when it may."""
    allow = flow.trunk.allow or []
    prefixes = [entry for entry in allow if entry.startswith("+")]
    hosts = {entry.lower().rstrip(".") for entry in allow if not entry.startswith("+")}
    host = host_in(target)
    if host is not None and hosts and host.rstrip(".") not in hosts:
        return f"the host {host} is not in `trunk.allow`"
    number = number_in(target, flow)
    if number is None:
        return None
    if prefixes and not any(number.startswith(p) for p in prefixes):
        return f"{number} does not start with a prefix in `trunk.allow`"
    premium = next((p for p in PREMIUM_PREFIXES if number.startswith(p)), None)
    if premium is not None and not _covers(prefixes, premium, number):
        return f"{number} is a premium-rate number ({premium}…)"
    country = country_of(number)
    own = own_countries(flow)
    if country not in own and not _covers(prefixes, country, number):
        if not own:
            return (
                f'{number} needs a prefix in `trunk.allow`: the flow has no number of its own ("*")'
            )
        return f"{number} is in another country ({country}) than the flow's own numbers"
    return None


def _covers(prefixes: Iterable[str], range_prefix: str, number: str) -> bool:
    """Whether a listed prefix opens this range explicitly: it is the range or inside it."""
    return any(p.startswith(range_prefix) and number.startswith(p) for p in prefixes)

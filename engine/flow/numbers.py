"""Phone numbers: E.164 checks and the rule that turns what a carrier sends in `To` into one.

Carriers write the dialled number in many ways: ``sip:+18005551212@host;user=phone``,
``<sip:18005551212@host>``, ``"Acme" <sip:…>;tag=…``, ``tel:+1-800-555-1212``,
``sip:0044…@host``. The rule, applied in this order:

1. take the URI inside ``<…>`` if there is one, else the value up to its first ``;``;
2. take the user part of a ``sip:``/``sips:`` URI (before ``@``, without ``;params``), or the
   number of a ``tel:`` URI; a bare value is used as it is;
3. drop visual separators (spaces, ``-``, ``.``, ``(``, ``)``) and decode ``%2B`` as ``+``;
4. ``+`` followed by digits is E.164 already; a ``00`` prefix becomes ``+``;
5. digits without a country code: when a default country code is configured
   (``ENGINE_DEFAULT_COUNTRY_CODE``, e.g. ``1`` or ``44``) and the number starts with one
   trunk ``0`` or has at most 10 digits, it is a national number: the trunk ``0`` is dropped
   and the country code put in front (``02071234567`` → ``+442071234567``); otherwise ``+`` is
   put in front of the digits as they are.

Anything else (``anonymous``, a name such as ``sip:support@host``) has no number; such calls
reach only the ``"*"`` flow.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = [
    "E164",
    "NumberPattern",
    "e164_hint",
    "extract_uri",
    "is_e164",
    "normalize_number",
    "parse_number_pattern",
]

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_SEPARATORS = re.compile(r"[\s\-.()]")


def is_e164(text: str) -> bool:
    return E164.fullmatch(text) is not None  # `$` alone would let "+1800…\n" through


def extract_uri(header_value: str) -> str:
    """The URI of a SIP name-addr or addr-spec header value (From, To, Contact, PAI)."""
    value = header_value.strip()
    if "<" in value:
        inner = value[value.index("<") + 1 :]
        return inner.split(">", 1)[0].strip()
    return value.split(";", 1)[0].strip()


def _user_part(uri: str) -> str:
    lowered = uri.lower()
    if lowered.startswith(("sip:", "sips:")):
        rest = uri.split(":", 1)[1]
        if "@" not in rest:
            return rest.split(";", 1)[0]
        user = rest.rsplit("@", 1)[0]
        return user.split(";", 1)[0].split(":", 1)[0]
    if lowered.startswith("tel:"):
        return uri[4:].split(";", 1)[0]
    return uri


def normalize_number(value: str, default_country_code: str | None = None) -> str | None:
    """E.164 for a header value, URI or number as a carrier writes it, or None if it has none."""
    user = unquote(_user_part(extract_uri(value)))
    digits = _SEPARATORS.sub("", user)
    if digits.startswith("+"):
        candidate = digits
    elif digits.startswith("00"):
        candidate = "+" + digits[2:]
    elif digits.isdigit():
        national = digits[1:] if digits.startswith("0") else digits
        if default_country_code and (digits.startswith("0") or len(digits) <= 10):
            candidate = f"+{default_country_code}{national}"
        else:
            candidate = "+" + digits
    else:
        return None
    return candidate if is_e164(candidate) else None


def e164_hint(written: str, prefix: str = "", suffix: str = "") -> str | None:
    """A fix for a number not in E.164 form; a guess only when its country code is written.
    `engine lint` and `engine new --number` both say this, so they never disagree.

    Without a ``+`` or ``00`` a number of up to 10 digits is a national one ("415-555-0199",
    "020 7123 4567"): putting "+" before it would name another country, so we ask for the
    country code instead of guessing it.
    """
    digits = re.sub(r"[\s\-.()]", "", written)
    guess = normalize_number(written)
    if guess is not None and (digits.startswith(("+", "00")) or len(digits) >= 11):
        return f'did you mean "{prefix}{guess}{suffix}"?'
    if digits.isdigit():
        national = digits[1:] if digits.startswith("0") else digits
        drop = " and drop the leading 0" if digits.startswith("0") else ""
        return (
            f'put "+" and the country code in front{drop}: '
            f'"{prefix}+<country code>{national}{suffix}"'
        )
    return None


_PREFIX = re.compile(r"^\+[1-9][0-9]{0,14}$")


@dataclass(frozen=True, slots=True)
class NumberPattern:
    """One entry of a rule's ``numbers``: an E.164 number, or a prefix (``"+1900*"``)."""

    text: str
    digits: str  # the number, or the prefix without its "*"
    prefix: bool

    def matches(self, number: str | None) -> bool:
        if number is None:
            return False
        return number.startswith(self.digits) if self.prefix else number == self.digits


@functools.lru_cache(maxsize=4096)  # read once per rule, not once per call
def parse_number_pattern(text: str) -> NumberPattern:
    """Read a caller rule's number. Raises ValueError unless it is E.164 (``"+14155550100"``)
    or the start of one followed by ``*`` (``"+1900*"``, ``"+44*"``)."""
    if not isinstance(text, str):
        raise ValueError(f'{text!r} is not a phone number: write it in quotes, e.g. "+14155550100"')
    value = text.strip()
    prefix = value.endswith("*")
    digits = value[:-1] if prefix else value
    if not (_PREFIX.fullmatch(digits) if prefix else is_e164(digits)):
        if prefix:
            raise ValueError(
                f'"{text}" is not a number prefix: write "+", the country code and any further '
                'digits, then "*", e.g. "+1900*"'
            )
        raise ValueError(
            f'"{text}" is not an E.164 number: write "+", the country code and the number, '
            'e.g. "+14155550100" (or end it with "*" to match every number it starts)'
        )
    return NumberPattern(text, digits, prefix)

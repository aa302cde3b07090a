"""Caller rules: who is calling, and which of a flow's `callers` rules is theirs.

Pure. The caller's number is the one in ``P-Asserted-Identity`` when that header has one
(the carrier vouches for it), else the one in ``From``. A rule's ``numbers`` match that
number exactly, or by prefix with a trailing ``*`` (``"+1900*"``).

A caller is *anonymous* (what ``anonymous: true`` matches) when no usable number came with
the call (``anonymous``, ``restricted``, a name, nothing) **or** the caller withheld it: the
``From`` shows no number, or a ``Privacy`` header asks for it to be hidden (``id``, ``user``,
``header``). Carriers that know the number pass it in ``P-Asserted-Identity`` even then, so
a withheld caller can still match a ``numbers`` rule listed before the anonymous one (a
blocked number stays blocked when it dials with its number hidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..flow.model import CallerRule
from ..flow.numbers import normalize_number, parse_number_pattern

__all__ = [
    "Caller",
    "first_match",
    "identify_caller",
    "rule_matches",
]

_WITHHELD_PRIVACY = {"id", "user", "header"}


@dataclass(frozen=True, slots=True)
class Caller:
    number: str | None  # E.164, or None when the call carried no usable number
    withheld: bool  # the caller hid their number (or none came with the call)

    @property
    def anonymous(self) -> bool:
        return self.number is None or self.withheld


def identify_caller(
    *,
    asserted: str | None,
    from_: str | None,
    privacy: str | None = None,
    default_country_code: str | None = None,
) -> Caller:
    """The caller of a call from its ``P-Asserted-Identity``, ``From`` and ``Privacy`` values."""
    shown = normalize_number(from_ or "", default_country_code)
    vouched = normalize_number(asserted or "", default_country_code) if asserted else None
    number = vouched or shown
    tokens = {t.strip().lower() for t in (privacy or "").split(";")}
    withheld = number is None or shown is None or bool(tokens & _WITHHELD_PRIVACY)
    return Caller(number, withheld)


def rule_matches(rule: CallerRule, caller: Caller) -> bool:
    """Whether ``rule`` is about ``caller``. Raises ValueError for a malformed number."""
    if rule.anonymous and caller.anonymous:
        return True
    return any(parse_number_pattern(text).matches(caller.number) for text in rule.numbers)


def first_match(rules: Sequence[CallerRule], caller: Caller) -> tuple[int, CallerRule] | None:
    """The first rule about ``caller`` and its index, or None. Raises ValueError for a
    malformed number in a rule that is checked (rules after the match are not read)."""
    for index, rule in enumerate(rules):
        if rule_matches(rule, caller):
            return index, rule
    return None

"""Caller rules as pure functions: who is calling, and which rule is theirs."""

from __future__ import annotations

import pytest

from engine.call.callers import Caller, first_match, identify_caller, rule_matches
from engine.flow.model import CallerRule
from engine.flow.numbers import NumberPattern, parse_number_pattern

TWILIO_FROM = '"Jane" <sip:+14155550100@acme.pstn.twilio.com>;tag=abc'
TWILIO_PAI = '"Jane" <sip:+14155550100@198.51.100.21>'
ANONYMOUS_FROM = '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=abc'


# --- who is calling ------------------------------------------------------------------------


def test_the_asserted_identity_wins_over_from() -> None:
    caller = identify_caller(
        asserted="<sip:+14155550199@198.51.100.21>", from_="<sip:+14155550100@carrier>"
    )
    assert caller == Caller("+14155550199", withheld=False)
    assert not caller.anonymous


def test_from_alone() -> None:
    assert identify_caller(asserted=None, from_=TWILIO_FROM) == Caller("+14155550100", False)


def test_a_from_without_a_number_falls_back_nowhere() -> None:
    for value in (ANONYMOUS_FROM, "<sip:restricted@carrier>", "sip:Unavailable@host", "", None):
        caller = identify_caller(asserted=None, from_=value)
        assert caller.number is None and caller.anonymous, value


def test_an_asserted_identity_without_a_number_uses_from() -> None:
    caller = identify_caller(asserted="<sip:anonymous@carrier>", from_=TWILIO_FROM)
    assert caller == Caller("+14155550100", False)


def test_a_withheld_number_is_anonymous_but_still_known() -> None:
    # *67 through a carrier that knows the number: From hides it, PAI carries it.
    caller = identify_caller(asserted=TWILIO_PAI, from_=ANONYMOUS_FROM, privacy="id")
    assert caller.number == "+14155550100"
    assert caller.withheld and caller.anonymous


@pytest.mark.parametrize("privacy", ["id", "user", "header", "header;id", " ID ", "user; critical"])
def test_privacy_asking_to_hide_the_number(privacy: str) -> None:
    caller = identify_caller(asserted=TWILIO_PAI, from_=TWILIO_FROM, privacy=privacy)
    assert caller.anonymous and caller.number == "+14155550100"


@pytest.mark.parametrize("privacy", [None, "", "none", "session"])
def test_privacy_that_does_not_hide_the_number(privacy: str | None) -> None:
    caller = identify_caller(asserted=TWILIO_PAI, from_=TWILIO_FROM, privacy=privacy)
    assert not caller.anonymous


def test_national_numbers_with_a_default_country_code() -> None:
    caller = identify_caller(
        asserted=None, from_="<sip:02071234567@carrier>", default_country_code="44"
    )
    assert caller.number == "+442071234567"
    bare = identify_caller(asserted=None, from_="<sip:14155550100@192.0.2.45>")  # Wavix
    assert bare.number == "+14155550100"


# --- number patterns -----------------------------------------------------------------------


def test_patterns() -> None:
    assert parse_number_pattern("+14155550100") == NumberPattern(
        "+14155550100", "+14155550100", prefix=False
    )
    assert parse_number_pattern("+1900*") == NumberPattern("+1900*", "+1900", prefix=True)
    assert parse_number_pattern("+4*").digits == "+4"
    exact, prefix = parse_number_pattern("+14155550100"), parse_number_pattern("+1415*")
    assert exact.matches("+14155550100") and not exact.matches("+141555501000")
    assert not exact.matches("+14155550101") and not exact.matches(None)
    assert prefix.matches("+14155550100") and prefix.matches("+1415")
    assert not prefix.matches("+14165550100") and not prefix.matches(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("14155550100", "is not an E.164 number"),
        ("+1 415 555 0100", "is not an E.164 number"),
        ("+0123", "is not an E.164 number"),
        ("+1", "is not an E.164 number"),
        ("+1234567890123456", "is not an E.164 number"),
        ("anonymous", "is not an E.164 number"),
        ("*", "is not a number prefix"),
        ("+*", "is not a number prefix"),
        ("1900*", "is not a number prefix"),
        ("+19*00", "is not an E.164 number"),
    ],
)
def test_pattern_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_number_pattern(text)


# --- rules ---------------------------------------------------------------------------------

JANE = Caller("+14155550100", withheld=False)
PREMIUM = Caller("+19005550123", withheld=False)
HIDDEN = Caller(None, withheld=True)
HIDDEN_JANE = Caller("+14155550100", withheld=True)


def test_rule_matching() -> None:
    blocked = CallerRule(numbers=["+19005550123", "+1888*"], reject=603)
    vip = CallerRule(numbers=["+1415*"], flow="vip")
    anonymous = CallerRule(anonymous=True, say="Please call with your number shown.")
    either = CallerRule(numbers=["+1900*"], anonymous=True, reject=603)
    nobody = CallerRule(say="Hello.")
    assert rule_matches(blocked, PREMIUM) and not rule_matches(blocked, JANE)
    assert rule_matches(blocked, Caller("+18885550000", False))
    assert rule_matches(vip, JANE) and rule_matches(vip, HIDDEN_JANE)
    assert not rule_matches(vip, HIDDEN)
    assert rule_matches(anonymous, HIDDEN) and rule_matches(anonymous, HIDDEN_JANE)
    assert not rule_matches(anonymous, JANE)
    assert rule_matches(either, PREMIUM) and rule_matches(either, HIDDEN)
    assert not rule_matches(either, JANE)
    assert not any(rule_matches(nobody, c) for c in (JANE, PREMIUM, HIDDEN, HIDDEN_JANE))


def test_the_first_match_wins() -> None:
    rules = [
        CallerRule(numbers=["+19005550123"], reject=603),
        CallerRule(anonymous=True, reject=403),
        CallerRule(numbers=["+1*"], flow="vip"),
    ]
    assert first_match(rules, PREMIUM) == (0, rules[0])
    assert first_match(rules, HIDDEN) == (1, rules[1])
    assert first_match(rules, HIDDEN_JANE) == (1, rules[1])
    assert first_match(rules, JANE) == (2, rules[2])
    assert first_match(rules, Caller("+447700900123", False)) is None
    assert first_match([], JANE) is None


def test_a_blocked_number_stays_blocked_when_withheld() -> None:
    rules = [
        CallerRule(numbers=["+14155550100"], reject=603),
        CallerRule(anonymous=True, say="Please call with your number shown."),
    ]
    assert first_match(rules, HIDDEN_JANE) == (0, rules[0])


def test_a_malformed_number_is_an_error_only_when_read() -> None:
    rules = [CallerRule(numbers=["+1415*"], flow="vip"), CallerRule(numbers=["415"], reject=603)]
    assert first_match(rules, JANE) == (0, rules[0])
    with pytest.raises(ValueError, match=r'"415" is not an E\.164 number'):
        first_match(rules, PREMIUM)

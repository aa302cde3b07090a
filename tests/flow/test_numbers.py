"""SIP `To` values → E.164: every carrier's way of writing the dialled number."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.flow.numbers import extract_uri, is_e164, normalize_number

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+18005551212", "+18005551212"),
        ("sip:+18005551212@sip.example.com", "+18005551212"),
        ("sip:+18005551212@sip.example.com;user=phone", "+18005551212"),
        ("sip:+18005551212;npdi@sip.example.com", "+18005551212"),
        ("sip:+18005551212:secret@sip.example.com", "+18005551212"),
        ("sips:+18005551212@sip.example.com:5061", "+18005551212"),
        ("SIP:+18005551212@EXAMPLE.COM", "+18005551212"),
        ("<sip:+18005551212@sip.example.com>", "+18005551212"),
        ("<sip:+18005551212@sip.example.com;transport=udp>;tag=1928301774", "+18005551212"),
        ('"Acme Support" <sip:+18005551212@sip.example.com>;tag=x', "+18005551212"),
        ('"Acme; <Support>" <sip:+18005551212@sip.example.com>', None),  # quoted < confuses
        ("Acme <sip:+18005551212@h>", "+18005551212"),
        ("tel:+18005551212", "+18005551212"),
        ("tel:+1-800-555-1212", "+18005551212"),
        ("tel:+1.800.555.1212", "+18005551212"),
        ("tel:+1 (800) 555-1212", "+18005551212"),
        ("tel:+18005551212;phone-context=example.com", "+18005551212"),
        ("<tel:+18005551212>", "+18005551212"),
        ("sip:18005551212@sip.example.com", "+18005551212"),
        ("sip:0018005551212@sip.example.com", "+18005551212"),
        ("sip:00442071234567@trunk.example", "+442071234567"),
        ("sip:%2B18005551212@sip.example.com", "+18005551212"),
        ("sip:%2b18005551212@sip.example.com", "+18005551212"),
        ("  sip:+18005551212@h  ", "+18005551212"),
        ("+44 20 7123 4567", "+442071234567"),
        ("sip:+18005551212", "+18005551212"),
    ],
)
def test_carrier_forms(value: str, expected: str | None) -> None:
    if expected is None:
        # Documented limit: a display name holding `<` is not parsed as SIP would.
        assert normalize_number(value) in (None, "+18005551212")
    else:
        assert normalize_number(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "anonymous",
        "sip:anonymous@anonymous.invalid",
        "Anonymous <sip:anonymous@anonymous.invalid>",
        "sip:support@acme.example",
        "sip:@acme.example",
        "",
        "   ",
        "<>",
        "sip:",
        "tel:",
        "+",
        "++18005551212",
        "+0123456789",  # E.164 never starts with 0
        "+1234567890123456",  # 16 digits: too long
        "+1",  # too short
        "1-800-FLOWERS",
        "sip:+1800555121x@h",
        "１８００５５５１２１２",  # fullwidth digits are digits to Python, not to a carrier
    ],
)
def test_values_without_a_number(value: str) -> None:
    assert normalize_number(value) is None
    assert normalize_number(value, "1") is None


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        ("sip:8005551212@h", "1", "+18005551212"),
        ("tel:800-555-1212", "1", "+18005551212"),
        ("sip:18005551212@h", "1", "+18005551212"),  # 11 digits: already has its code
        ("sip:02071234567@h", "44", "+442071234567"),  # trunk 0 dropped
        ("sip:2071234567@h", "44", "+442071234567"),
        ("sip:0301234567@h", "49", "+49301234567"),
        ("sip:442071234567@h", "1", "+442071234567"),  # 12 digits: international
        ("sip:0018005551212@h", "44", "+18005551212"),  # 00 is the international prefix
        ("sip:+442071234567@h", "1", "+442071234567"),  # + wins over the default
    ],
)
def test_national_numbers_with_a_default_country_code(
    value: str, country: str, expected: str
) -> None:
    assert normalize_number(value, country) == expected


def test_without_a_default_a_national_number_is_not_made_up() -> None:
    assert normalize_number("sip:8005551212@h") == "+8005551212"  # read as written
    assert normalize_number("sip:02071234567@h") is None  # no +0…


def test_extract_uri() -> None:
    assert extract_uri('"A" <sip:+1@h;x=y>;tag=1') == "sip:+1@h;x=y"
    assert extract_uri("sip:+1@h;user=phone") == "sip:+1@h"
    assert extract_uri("  tel:+1  ") == "tel:+1"
    assert extract_uri("<sip:unclosed") == "sip:unclosed"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("+18005551212", True),
        ("+12", True),
        ("+123456789012345", True),
        ("+1234567890123456", False),
        ("18005551212", False),
        ("+0800", False),
        ("+1800 555", False),
        ("+18005551212\n", False),
        ("*", False),
    ],
)
def test_is_e164(text: str, ok: bool) -> None:
    assert is_e164(text) is ok


# --- properties --------------------------------------------------------------------------

carrier_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("0123456789+-.() <>;:@%2Bsiptel\"'\t"))),
    st.builds(
        lambda scheme, user, host, params: f"{scheme}{user}@{host}{params}",
        st.sampled_from(["sip:", "sips:", "tel:", "SIP:", "<sip:", ""]),
        st.text(alphabet="+0123456789-. ()%2B", max_size=20),
        st.text(max_size=10),
        st.sampled_from(["", ";user=phone", ">;tag=1", ">", ";"]),
    ),
)
country_codes = st.one_of(st.none(), st.sampled_from(["1", "44", "49", "33", "7", "852"]))


@BOUNDED
@given(carrier_text, country_codes)
def test_normalize_never_raises_and_returns_e164_or_none(value: str, country: str | None) -> None:
    result = normalize_number(value, country)
    assert result is None or is_e164(result), result


@BOUNDED
@given(st.text(), st.text(max_size=4))
def test_normalize_with_any_default_never_raises(value: str, country: str) -> None:
    result = normalize_number(value, country)
    assert result is None or is_e164(result), result


e164 = st.builds(
    lambda first, rest: f"+{first}{rest}",
    st.integers(1, 9),
    st.text(alphabet="0123456789", min_size=1, max_size=14),
)


@BOUNDED
@given(e164, country_codes)
def test_every_carrier_form_of_an_e164_number_normalises_to_it(
    number: str, country: str | None
) -> None:
    digits = number[1:]
    forms = [
        number,
        f"sip:{number}@sip.example.com",
        f"sip:{number}@sip.example.com;user=phone",
        f"<sip:{number}@h>;tag=abc",
        f'"Caller" <sip:{number}@h:5060;transport=tcp>;tag=x',
        f"tel:{number}",
        f"tel:+{'-'.join(digits[i : i + 3] for i in range(0, len(digits), 3))}",
        f"sip:00{digits}@h",
        f"sip:%2B{digits}@h",
    ]
    for form in forms:
        assert normalize_number(form, country) == number, form


@BOUNDED
@given(e164)
def test_normalize_is_idempotent(number: str) -> None:
    once = normalize_number(number)
    assert once is not None
    assert normalize_number(once) == once

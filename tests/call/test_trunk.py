"""Transfer targets by carrier preset (engine/call/trunk.py)."""

from datetime import UTC, datetime

import pytest

from engine.call.context import build_context
from engine.call.trunk import transfer_uri
from engine.flow.model import Flow, Trunk

CONTACT = "<sip:+14155550100@203.0.113.10:5061;transport=tls>"


def context(contact=CONTACT, **vars_):
    flow = Flow.model_validate(
        {
            "name": "test",
            "numbers": ["+18005551212"],
            "instructions": "Help.",
            "vars": vars_,
        }
    )
    return build_context(
        call_id="rtc_1",
        flow=flow,
        caller='"Jane" <sip:+14155550100@carrier.example>;tag=1',
        dialled="<sip:+18005551212@sip.example.com>",
        headers=[("Contact", contact)] if contact else [],
        contact=contact,
        env={},
        now=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    )


NONE = Trunk()
BANDWIDTH = Trunk(carrier="bandwidth")
WAVIX = Trunk(carrier="wavix", region="us")
TWILIO = Trunk(carrier="twilio", domain="acme.pstn.twilio.com")
TELNYX = Trunk(carrier="telnyx")


@pytest.mark.parametrize(
    ("trunk", "expected"),
    [
        (NONE, "tel:+18005550000"),
        (BANDWIDTH, "sip:+18005550000@203.0.113.10"),
        (WAVIX, "sip:18005550000@us.wavix.net"),
        (TWILIO, "sip:+18005550000@acme.pstn.twilio.com"),
        (Trunk(carrier="twilio"), "tel:+18005550000"),
        (TELNYX, "sip:+18005550000@sip.telnyx.com"),
        (
            Trunk(carrier="telnyx", domain="acme.sip.telnyx.com"),
            "sip:+18005550000@acme.sip.telnyx.com",
        ),
        (
            Trunk(carrier="custom", uri="sip:{{ number }}@pbx.example.com"),
            "sip:+18005550000@pbx.example.com",
        ),
        (
            Trunk(carrier="custom", uri="sip:{{ digits }}@{{ vars.pbx }};user=phone"),
            "sip:18005550000@pbx.internal;user=phone",
        ),
    ],
)
def test_every_preset_turns_a_bare_number_into_its_uri(trunk, expected):
    assert transfer_uri("+18005550000", trunk, context(pbx="pbx.internal")) == expected


@pytest.mark.parametrize(
    "written",
    [
        "+18005550000",
        "  +18005550000\n",
        "+1 800 555 0000",
        "+1-800-555-0000",
        "+1 (800) 555-0000",
        "+1.800.555.0000",
    ],
)
def test_numbers_as_people_write_them_are_normalised(written):
    assert transfer_uri(written, NONE, context()) == "tel:+18005550000"
    assert transfer_uri(written, WAVIX, context()) == "sip:18005550000@us.wavix.net"


@pytest.mark.parametrize(
    "target",
    [
        "",
        "   ",
        "18005550000",  # no +: which country?
        "+0123456",  # not E.164
        "+1800555000012345",  # too long
        "+1 800 CALL NOW",
        "+1800555%30000",
        "operator",
        "support@pbx.example.com",
        "+1800;user=phone",
        "https://example.com",
    ],
)
def test_anything_else_is_no_target(target):
    for trunk in (NONE, BANDWIDTH, WAVIX, TWILIO, TELNYX):
        assert transfer_uri(target, trunk, context()) is None


@pytest.mark.parametrize(
    "uri",
    [
        "sip:desk@pbx.example.com",
        "sips:desk@pbx.example.com:5061;transport=tls",
        "tel:+18005550000",
        "tel:+1-800-555-0000",
        "SIP:Desk@PBX.example.com",
    ],
)
def test_uris_are_sent_as_written_whatever_the_carrier(uri):
    for trunk in (NONE, BANDWIDTH, WAVIX, TWILIO, TELNYX):
        assert transfer_uri(f" {uri} ", trunk, context()) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "sip:",
        "tel:",
        "sip:desk@pbx.example.com\r\nX-Evil: 1",
        "sip:desk@pbx.example.com>;x=<sip:evil@example.com",
        'sip:"desk"@pbx.example.com',
        "sip:front desk@pbx.example.com",
    ],
)
def test_uris_that_could_break_the_refer_to_header_are_refused(uri):
    assert transfer_uri(uri, NONE, context()) is None


@pytest.mark.parametrize("contact", [None, "", "anonymous", "<tel:+14155550100>"])
def test_bandwidth_without_a_contact_host_has_no_target(contact):
    assert transfer_uri("+18005550000", BANDWIDTH, context(contact)) is None
    # URIs do not need the Contact host
    assert transfer_uri("sip:desk@pbx.example.com", BANDWIDTH, context(contact)) == (
        "sip:desk@pbx.example.com"
    )


def test_bandwidth_uses_the_host_only_and_refuses_a_host_that_is_not_one():
    ctx = context("<sip:+14155550100@[2001:db8::1]:5061>")
    assert transfer_uri("+18005550000", BANDWIDTH, ctx) == "sip:+18005550000@[2001:db8::1]"
    ctx = context("<sip:gw.bandwidth.example;transport=tls>")
    assert transfer_uri("+18005550000", BANDWIDTH, ctx) == "sip:+18005550000@gw.bandwidth.example"
    # A Contact header is the carrier's (or anyone's who reaches the trunk) to write.
    ctx = context("<sip:+1415@evil host/x>")
    assert transfer_uri("+18005550000", BANDWIDTH, ctx) is None
    assert transfer_uri("+18005550000", BANDWIDTH, {"call": {}}) is None
    assert transfer_uri("+18005550000", BANDWIDTH, {}) is None


def test_presets_missing_their_setting_or_with_a_bad_one_have_no_target():
    assert transfer_uri("+18005550000", Trunk(carrier="wavix"), context()) is None
    assert transfer_uri("+18005550000", Trunk(carrier="wavix", region="us east"), context()) is None
    bad = Trunk(carrier="twilio", domain="acme.pstn.twilio.com>")
    assert transfer_uri("+18005550000", bad, context()) is None
    assert transfer_uri("+18005550000", Trunk(carrier="custom"), context()) is None


@pytest.mark.parametrize(
    "template",
    [
        "sip:{{ number }}@{{ vars.missing }}",  # StrictUndefined
        "sip:{{ number | nosuchfilter }}@pbx",
        "sip:{{ number }@pbx",  # syntax error
        "{{ number }}",  # not a URI
        "https://pbx.example.com/{{ digits }}",
        "sip:{{ number }}@{{ caller.name }} pbx",  # a space: not a URI
        "{% if false %}sip:{{ number }}@pbx{% endif %}",  # empty
    ],
)
def test_a_custom_template_that_fails_or_gives_no_uri_has_no_target(template):
    trunk = Trunk(carrier="custom", uri=template)
    assert transfer_uri("+18005550000", trunk, context()) is None


def test_custom_template_sees_the_call_context():
    trunk = Trunk(carrier="custom", uri="sip:{{ digits }}@{{ call.contact_host }}:5060")
    assert transfer_uri("+44 20 7123 4567", trunk, context()) == (
        "sip:442071234567@203.0.113.10:5060"
    )


def test_nothing_from_the_target_reaches_the_uri_but_the_number():
    # The model could put anything in an argument a target is rendered from; only a
    # number written with + and separators is taken, and only its digits are used.
    for sneaky in ("+1800555000@evil.example", "+1800555000;transport=tcp", "+1800555000?x=1"):
        for trunk in (NONE, BANDWIDTH, WAVIX, TWILIO, TELNYX):
            assert transfer_uri(sneaky, trunk, context()) is None

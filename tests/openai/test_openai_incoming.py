import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.openai import IncomingCall, parse_incoming_call
from engine.simulator import CARRIERS, sip_headers_for
from engine.simulator.ids import IdFactory
from engine.simulator.webhooks import incoming_call_event


def event(headers, **data):
    body = {"call_id": "rtc_abc", "sip_headers": headers, **data}
    return {"object": "event", "id": "evt_1", "type": "realtime.call.incoming", "data": body}


def h(*pairs):
    return [{"name": n, "value": v} for n, v in pairs]


def test_parses_call_id_headers_and_media_security():
    call = parse_incoming_call(
        event(h(("From", "sip:+1415@x"), ("To", "sip:+1800@x")), sip_media_security="srtp"),
        "wh_1",
    )
    assert call == IncomingCall(
        call_id="rtc_abc",
        webhook_id="wh_1",
        sip_headers=(("From", "sip:+1415@x"), ("To", "sip:+1800@x")),
        media_security="srtp",
    )


def test_media_security_absent_is_none():
    assert parse_incoming_call(event([]), "wh").media_security is None


def test_header_lookup_is_case_insensitive_and_first_wins():
    call = parse_incoming_call(
        event(h(("VIA", "SIP/2.0/TLS a"), ("via", "SIP/2.0/UDP b"), ("x-shop-id", "42"))), "w"
    )
    assert call.header("Via") == "SIP/2.0/TLS a"
    assert call.headers("via") == ["SIP/2.0/TLS a", "SIP/2.0/UDP b"]
    assert call.header("X-Shop-Id") == "42"
    assert call.header("Diversion") is None
    assert call.headers("Diversion") == []


@pytest.mark.parametrize(
    ("compact", "long"),
    [("f", "From"), ("t", "To"), ("i", "Call-ID"), ("m", "Contact"), ("v", "Via"),
     ("c", "Content-Type"), ("l", "Content-Length"), ("k", "Supported"), ("s", "Subject"),
     ("e", "Content-Encoding"), ("r", "Refer-To"), ("b", "Referred-By")],
)  # fmt: skip
def test_compact_and_long_names_match_each_other(compact, long):
    short_form = parse_incoming_call(event(h((compact, "value-1"))), "w")
    long_form = parse_incoming_call(event(h((long.upper(), "value-2"))), "w")
    assert short_form.header(long) == "value-1"
    assert short_form.header(compact.upper()) == "value-1"
    assert long_form.header(compact) == "value-2"


def test_mixed_compact_and_long_repeats_keep_order():
    call = parse_incoming_call(event(h(("Via", "one"), ("v", "two"), ("VIA", "three"))), "w")
    assert call.headers("v") == ["one", "two", "three"]


def test_other_event_types_are_not_calls():
    assert parse_incoming_call({"type": "response.completed", "data": {}}, "w") is None
    assert parse_incoming_call({"type": "live.transport.incoming", "data": {}}, "w") is None
    assert parse_incoming_call({}, "w") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "'data' is missing"),
        ({"sip_headers": []}, "'data.call_id' is missing"),
        ({"call_id": 5}, "'data.call_id' is missing or not a string"),
        ({"call_id": "rtc", "sip_headers": {"From": "x"}}, "'data.sip_headers' is not a list"),
        ({"call_id": "rtc", "sip_headers": [{"name": "From"}]}, "'data.sip_headers[0]'"),
        ({"call_id": "rtc", "sip_media_security": 1}, "'data.sip_media_security'"),
    ],
)
def test_malformed_incoming_call_raises_value_error(data, message):
    body = {"type": "realtime.call.incoming"}
    if data is not None:
        body["data"] = data
    with pytest.raises(ValueError, match=r"realtime\.call\.incoming") as info:
        parse_incoming_call(body, "w")
    assert message in str(info.value)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_simulated_carrier_deliveries_parse(carrier):
    ids = IdFactory(1)
    headers = sip_headers_for(carrier, from_="+14155550100", to="+18005551212", ids=ids)
    body = incoming_call_event(
        event_id="evt_x", call_id="rtc_x", sip_headers=headers, media_security="srtp",
        created_at=1,
    )  # fmt: skip
    call = parse_incoming_call(body, "wh_x")
    assert call.call_id == "rtc_x"
    assert "4155550100" in call.header("f")
    assert "8005551212" in call.header("t")
    assert call.header("i")


@given(
    name=st.sampled_from(["From", "Call-ID", "P-Asserted-Identity", "X-Tenant"]),
    flips=st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_any_casing_of_a_name_finds_the_header(name, flips):
    cased = "".join(c.upper() if f else c.lower() for c, f in zip(name, flips, strict=False))
    call = parse_incoming_call(event(h((name, "v"))), "w")
    assert call.header(cased) == "v"

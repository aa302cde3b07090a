"""check_transfer: what the model's values may and may not do to a transfer target."""

from __future__ import annotations

from typing import Any

import pytest

from engine.call.transfer_guard import CheckedTransfer, check_transfer
from engine.flow.model import Flow


def make_flow(tools: dict[str, Any], **extra: Any) -> Flow:
    return Flow.model_validate(
        {"name": "T", "numbers": ["+18005551212"], "instructions": "x", "tools": tools, **extra}
    )


def check(transfer: str, args: dict[str, Any], params: dict[str, Any], **extra: Any):
    flow = make_flow(
        {"t": {"description": "d", "parameters": params, "transfer": transfer}}, **extra
    )
    context = {"vars": {"desk": "+15551230000"}, "call": {"contact_host": "203.0.113.5"}}
    return check_transfer(flow, flow.tools["t"], transfer, args, {**context, "args": args})


FREE = {"ext": {"type": "string", "pattern": "^.*$"}}  # a pattern that holds nothing


@pytest.mark.parametrize(
    "ext",
    [
        "100@evil.example;x=",  # a second host
        "100;maddr=evil.example",  # a parameter that reroutes
        "100?Replaces=abc",  # a header in the URI
        "100:5060",  # a port
        "100>,<sip:evil.example",  # a second URI in the header
        "10 0",
        "",
    ],
)
def test_a_free_value_cannot_leave_the_user_part(ext: str) -> None:
    checked = check("sip:{{ args.ext }}@pbx.example.com;user=phone", {"ext": ext}, FREE)
    assert checked.uri is None


def test_a_free_value_in_the_user_part_goes_out() -> None:
    checked = check("sip:{{ args.ext }}@pbx.example.com;user=phone", {"ext": "4410"}, FREE)
    assert checked == CheckedTransfer("sip:4410@pbx.example.com;user=phone")


def test_a_free_value_that_picks_the_host_is_refused() -> None:
    checked = check("sip:100@{{ args.ext }}", {"ext": "evil.example"}, FREE)
    assert checked.uri is None and checked.refused


def test_a_target_from_vars_and_the_contact_host_is_the_flows() -> None:
    checked = check("sip:{{ vars.desk }}@{{ call.contact_host }}", {}, {})
    assert checked.uri == "sip:+15551230000@203.0.113.5"


def test_an_oversized_value_is_refused_before_its_pattern_runs() -> None:
    params = {"ext": {"type": "string", "pattern": "^[0-9]+$"}}
    checked = check("sip:{{ args.ext }}@pbx.example.com", {"ext": "1" * 300}, params)
    assert checked.uri is None and checked.refused == '"ext" is too long'


@pytest.mark.parametrize(
    ("target", "allow", "ok"),
    [
        ("sip:+19005550100@sip.carrier.example", None, False),  # a number in a sip: address
        ("sip:19005550100@sip.carrier.example", None, False),  # the same without "+"
        ("sip:0119005550100@sip.carrier.example", None, False),
        ("sip:9005550100@sip.carrier.example", None, False),  # 10 digits in a +1 flow
        ("sip:100@pbx.example.com", ["pbx.example.com"], True),
        ("sip:100@other.example.com", ["pbx.example.com"], False),
        ("+19005550100", ["+1"], False),  # "+1" does not open premium rate
        ("+19005550100", ["+19005550100"], True),
        ("+74951234567", None, False),  # another country
        ("+14155550100", ["+1800"], False),  # not a listed prefix
    ],
)
def test_what_a_literal_target_may_reach(target: str, allow: list[str] | None, ok: bool) -> None:
    extra = {"trunk": {"allow": allow}} if allow else {}
    checked = check(target, {}, {}, **extra)
    assert (checked.uri is not None) is ok, checked
    assert bool(checked.refused) is not ok


@pytest.mark.parametrize("ext", [100, ["100"], {"a": "100"}, True])
def test_a_value_of_another_type_is_refused(ext: Any) -> None:
    params = {"ext": {"type": "string", "enum": ["100"]}}
    checked = check("sip:{{ args.ext }}@pbx.example.com", {"ext": ext}, params)
    assert checked.uri is None and checked.refused == '"ext" must be a string'


def test_an_integer_parameter_takes_an_integer() -> None:
    params = {"ext": {"type": "integer", "enum": ["100"]}}
    checked = check("sip:{{ args.ext }}@pbx.example.com", {"ext": 100}, params)
    assert checked.uri == "sip:100@pbx.example.com"


@pytest.mark.parametrize(
    ("ext", "ok"),
    [("0100", True), ("0100;phone-context=evil.example", False), ("0100;ext=9", False)],
)
def test_a_free_value_fills_only_the_digits_of_a_tel_target(ext: str, ok: bool) -> None:
    checked = check("tel:+1555123{{ args.ext }};ext=1", {"ext": ext}, FREE)
    assert (checked.uri == "tel:+15551230100;ext=1") is ok
    assert (checked.uri is None) is not ok

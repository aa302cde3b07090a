"""Toll fraud: a caller (through the model) steering a transfer somewhere the flow did not
mean. Every refused transfer is told to the model and never reaches the carrier."""

from __future__ import annotations

import asyncio

import pytest

from helpers import tool_outputs

NUMBER = "+18005550170"

EXTENSION_FLOW = f"""\
name: Extensions
numbers: ["{NUMBER}"]
instructions: Transfer callers to the extension they ask for.
greeting: Extensions line.
tools:
  to_extension:
    description: Transfer the caller to an extension.
    parameters:
      ext: {{type: string, enum: ["100", "200"], description: The extension}}
    say: Transferring you now.
    transfer: "sip:{{{{ args.ext }}}}@pbx.example.com"
  to_desk:
    description: Transfer the caller to a desk by its three-digit number.
    parameters:
      desk: {{type: string, pattern: "^[0-9]{{3}}$", description: The desk}}
    say: Transferring you now.
    transfer: "sip:{{{{ args.desk }}}}@pbx.example.com"
  to_number:
    description: Transfer the caller to a phone number.
    parameters:
      digits: {{type: string, pattern: "^[0-9]{{8,14}}$", description: The number's digits}}
    say: Transferring you now.
    transfer: "tel:+{{{{ args.digits }}}}"
"""


async def _transfer(h, tool: str, args: dict):
    call = await h.answered(NUMBER)
    call.model.call_tool(tool, args)
    await call.say("Put me through, please")
    await call.wait_for_client_event("response.create", count=2, timeout=4)
    return call


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("to_extension", {"ext": "100@evil.example;x="}),  # the reported attack
        ("to_extension", {"ext": "999"}),  # not in the enum
        ("to_extension", {"ext": "+19005550100"}),  # premium rate, not in the enum
        ("to_desk", {"desk": "100@evil.example;x="}),  # does not match the pattern
        ("to_desk", {"desk": "12"}),
        ("to_number", {"digits": "19005550100"}),  # NANP premium rate
        ("to_number", {"digits": "19765550100"}),
        ("to_number", {"digits": "18765550100"}),  # Jamaica: +1, but another country
        ("to_number", {"digits": "442071234567"}),  # another country than the flow's
    ],
)
def test_a_steered_transfer_is_refused_and_the_model_told(rt, tool, args):
    async def main() -> None:
        async with rt(flows={"x.yaml": EXTENSION_FLOW}) as h:
            call = await _transfer(h, tool, args)
            await call.wait_idle()
            outputs = tool_outputs(call)
            assert [o["error"] for o in outputs] == ["transfer_refused"]
            assert "refused" in outputs[0]["message"]
            assert call.requests_for("refer") == []  # the carrier never heard of it
            assert not call.ended and len(h.engine.calls) == 1

    asyncio.run(main())


@pytest.mark.parametrize(
    ("tool", "args", "uri"),
    [
        ("to_extension", {"ext": "100"}, "sip:100@pbx.example.com"),
        ("to_desk", {"desk": "310"}, "sip:310@pbx.example.com"),
        ("to_number", {"digits": "15551230000"}, "tel:+15551230000"),
    ],
)
def test_an_allowed_transfer_goes_out(rt, tool, args, uri):
    async def main() -> None:
        async with rt(flows={"x.yaml": EXTENSION_FLOW}) as h:
            call = await h.answered(NUMBER)
            call.model.call_tool(tool, args)
            await call.say("Put me through, please")
            refer = await call.wait_for_request("refer", timeout=4)
            assert refer.body == {"target_uri": uri}

    asyncio.run(main())


ALLOW_FLOW = (
    EXTENSION_FLOW
    + """\
trunk:
  allow: ["+1555", "+4420", "pbx.example.com"]
"""
)


@pytest.mark.parametrize(
    ("digits", "allowed"),
    [
        ("15551230000", True),
        ("442071234567", True),  # another country, opened by "+4420"
        ("18005550100", False),  # the flow's own country, but no listed prefix
        ("449095550100", False),  # UK premium rate: "+44…" is not listed
    ],
)
def test_trunk_allow_caps_what_a_transfer_may_reach(rt, digits, allowed):
    async def main() -> None:
        async with rt(flows={"x.yaml": ALLOW_FLOW}) as h:
            call = await _transfer(h, "to_number", {"digits": digits})
            if allowed:
                refer = await call.wait_for_request("refer", timeout=4)
                assert refer.body == {"target_uri": f"tel:+{digits}"}
            else:
                await call.wait_idle()
                outputs = tool_outputs(call)
                assert [o["error"] for o in outputs] == ["transfer_refused"]
                assert call.requests_for("refer") == []

    asyncio.run(main())

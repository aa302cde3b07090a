"""Before accept, end to end: business hours, closed dates, caller rules and hand-offs, with a
fixed clock injected into the engine and calls placed through the simulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

SUPPORT_NUMBER = "+18005551212"
VIP_CALLER = "+14155550199"
BLOCKED_CALLER = "+19005550123"

# Monday 2 March 2026: London is on GMT, so UTC and London wall-clock times agree.
BEFORE_CLOSING = datetime(2026, 3, 2, 17, 29, tzinfo=UTC)
CLOSING = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def support(when_closed: str, callers: str = "", extra: str = "") -> str:
    """The support flow; ``callers`` and ``extra`` are top-level keys indented by 8."""
    return f"""\
        name: Support
        numbers: ["{SUPPORT_NUMBER}"]
        instructions: You are Acme support.
        greeting: Thanks for calling Acme. How can I help?
        timezone: Europe/London
        {extra}
        tools:
          bye:
            description: End the call.
            say: Goodbye!
            hangup: true
        {callers}
        hours:
          open:
            mon-fri: "09:00-17:30"
          closed_dates: ["12-25"]
          when_closed:
            {when_closed}
        """


CALLERS = f"""callers:
          - numbers: ["{BLOCKED_CALLER}", "+1888*"]
            reject: 603
          - numbers: ["{VIP_CALLER}"]
            flow: vip
          - anonymous: true
            say: Please call again with your number shown. Goodbye."""

VIP = """\
    name: VIP desk
    numbers: ["+18005550002"]
    voice: cedar
    instructions: You are the VIP desk for our best customers.
    greeting: Welcome back to the VIP desk.
    tools:
      bye:
        description: End the call.
        hangup: true
    """

AFTER_HOURS = """\
    name: After hours
    numbers: ["+18005550003"]
    instructions: You take messages while the office is closed.
    greeting: The office is closed, but I can take a message.
    tools:
      bye:
        description: End the call.
        hangup: true
    """


class Clock:
    """A fixed clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _tool_names(body: dict) -> list[str]:
    return sorted(t["name"] for t in body.get("tools") or [])


def _loaded(h, *names: str) -> None:
    assert sorted(p.rsplit("/", 1)[-1] for p in h.engine.registry.snapshot.flows) == sorted(
        names
    ), h.engine.registry.problems


def test_open_until_the_minute_of_closing(rt):
    async def main():
        clock = Clock(BEFORE_CLOSING)
        async with rt(flows={"support.yaml": support("reject: 486")}, clock=clock) as h:
            _loaded(h, "support.yaml")
            open_call = await h.answered(to=SUPPORT_NUMBER)
            assert _tool_names(open_call.accept_body) == ["bye"]
            first = open_call.client_events_of("response.create")[0]
            assert first["response"]["instructions"] == (
                "Say exactly: Thanks for calling Acme. How can I help?"
            )
            await open_call.hang_up()

            clock.now = CLOSING
            placed = await h.place(to=SUPPORT_NUMBER)
            assert placed.status == 200
            assert placed.call.accept_body is None
            [reject] = placed.call.requests_for("reject")
            assert reject.body == {"status_code": 486}
            assert placed.call.reject_status == 486
            assert placed.call.sideband_handshakes == []
            assert h.engine.metrics.value("engine_webhooks_total", outcome="rejected") == 1
            assert h.engine.metrics.value("engine_webhooks_total", outcome="accepted") == 1

    asyncio.run(main())


def test_a_closed_date(rt):
    async def main():
        christmas = Clock(datetime(2026, 12, 25, 11, 0, tzinfo=UTC))  # a Friday
        async with rt(flows={"support.yaml": support("reject: 480")}, clock=christmas) as h:
            placed = await h.place(to=SUPPORT_NUMBER)
            assert placed.call.requests_for("reject")[0].body == {"status_code": 480}

    asyncio.run(main())


def test_closed_say_speaks_the_line_with_no_tools_then_hangs_up(rt):
    async def main():
        line = "Sorry, we're closed. We open at nine on weekdays. Goodbye."
        # A silence ladder in the flow is not used by the line: no idle timeout is sent.
        silence = """silence:
          after: 5
          steps:
            - say: Are you still there?"""
        flows = {"support.yaml": support(f'say: "{line}"', extra=silence)}
        async with rt(flows=flows, clock=Clock(CLOSING)) as h:
            _loaded(h, "support.yaml")
            placed = await h.place(to=SUPPORT_NUMBER)
            assert placed.status == 200
            call = placed.call
            body = call.accept_body
            assert body["instructions"] == "You are Acme support."
            assert _tool_names(body) == []
            assert "turn_detection" not in body["audio"]["input"]
            await call.wait_connected()
            hangup = await call.wait_for_request("hangup", timeout=3)
            assert hangup.status == 200
            creates = call.client_events_of("response.create")
            assert [c["response"]["instructions"] for c in creates] == [f"Say exactly: {line}"]
            said = call.server_events_of("response.output_audio_transcript.done")
            assert [e["transcript"] for e in said] == [line]
            assert "session.update" not in call.client_event_types()
            await call.wait_ended()
            assert call.refer_targets == [] and call.violations == []
            await h.wait_calls_over()
            assert h.engine.metrics.value("engine_webhooks_total", outcome="accepted") == 1

    asyncio.run(main())


def test_closed_transfer_says_the_line_then_refers(rt):
    async def main():
        when_closed = (
            'say: "Let me put you through to our answering service."\n'
            '            transfer: "+15551230000"'
        )
        async with rt(flows={"support.yaml": support(when_closed)}, clock=Clock(CLOSING)) as h:
            _loaded(h, "support.yaml")
            placed = await h.place(to=SUPPORT_NUMBER)
            call = placed.call
            assert _tool_names(call.accept_body) == []
            refer = await call.wait_for_request("refer", timeout=3)
            assert refer.body == {"target_uri": "tel:+15551230000"}
            said = call.server_events_of("response.output_audio_transcript.done")
            assert [e["transcript"] for e in said] == [
                "Let me put you through to our answering service."
            ]
            assert call.requests_for("hangup") == []
            await call.wait_ended()
            assert call.violations == []

    asyncio.run(main())


def test_a_closed_transfer_that_does_not_take_ends_the_call(rt):
    async def main():
        when_closed = 'say: "Putting you through."\n            transfer: "+15551230000"'
        trunk = "trunk:\n          transfer_wait: 0.3"
        lines = "lines:\n          tools_failing: Sorry, nobody can take your call. Goodbye."
        flows = {"support.yaml": support(when_closed, extra=f"{trunk}\n        {lines}")}
        async with rt(flows=flows, clock=Clock(CLOSING)) as h:
            _loaded(h, "support.yaml")
            h.sim.faults.refer_vanishes = True
            placed = await h.place(to=SUPPORT_NUMBER)
            call = placed.call
            await call.wait_for_request("refer", timeout=3)
            await call.wait_for_request("hangup", timeout=5)
            said = [
                e["transcript"]
                for e in call.server_events_of("response.output_audio_transcript.done")
            ]
            assert said == ["Putting you through.", "Sorry, nobody can take your call. Goodbye."]
            assert call.refer_targets == ["tel:+15551230000"]

    asyncio.run(main())


def test_closed_hands_off_to_another_flow(rt):
    async def main():
        flows = {"support.yaml": support("flow: after-hours"), "after-hours.yaml": AFTER_HOURS}
        clock = Clock(CLOSING)
        async with rt(flows=flows, clock=clock) as h:
            _loaded(h, "support.yaml", "after-hours.yaml")
            call = await h.answered(to=SUPPORT_NUMBER)
            body = call.accept_body
            assert body["instructions"] == "You take messages while the office is closed."
            assert _tool_names(body) == ["bye"]
            first = call.client_events_of("response.create")[0]
            assert first["response"]["instructions"] == (
                "Say exactly: The office is closed, but I can take a message."
            )
            await call.hang_up()

            clock.now = MORNING
            open_call = await h.answered(to=SUPPORT_NUMBER)
            assert open_call.accept_body["instructions"] == "You are Acme support."

    asyncio.run(main())


def test_a_blocked_caller_is_rejected_with_603_during_hours(rt):
    async def main():
        flows = {"support.yaml": support("reject: 486", CALLERS), "vip.yaml": VIP}
        async with rt(flows=flows, clock=Clock(MORNING)) as h:
            _loaded(h, "support.yaml", "vip.yaml")
            for caller in (BLOCKED_CALLER, "+18885550100"):
                placed = await h.place(to=SUPPORT_NUMBER, from_=caller)
                assert placed.status == 200
                assert placed.call.requests_for("reject")[0].body == {"status_code": 603}
                assert placed.call.accept_body is None
            assert h.engine.metrics.value("engine_webhooks_total", outcome="rejected") == 2
            # Anyone else is answered.
            call = await h.answered(to=SUPPORT_NUMBER, from_="+14155550100")
            assert call.accept_body["instructions"] == "You are Acme support."

    asyncio.run(main())


@pytest.mark.parametrize("carrier", ["twilio", "bandwidth", "wavix", "telnyx"])
def test_a_vip_goes_to_the_vip_flow(rt, carrier):
    async def main():
        flows = {"support.yaml": support("reject: 486", CALLERS), "vip.yaml": VIP}
        async with rt(flows=flows, clock=Clock(CLOSING)) as h:
            call = await h.answered(to=SUPPORT_NUMBER, from_=VIP_CALLER, carrier=carrier)
            body = call.accept_body
            assert body["instructions"] == "You are the VIP desk for our best customers."
            assert body["audio"]["output"]["voice"] == "cedar"
            first = call.client_events_of("response.create")[0]
            assert first["response"]["instructions"] == "Say exactly: Welcome back to the VIP desk."

    asyncio.run(main())


@pytest.mark.parametrize("carrier", ["twilio", "plain"])
def test_an_anonymous_caller(rt, carrier):
    async def main():
        flows = {"support.yaml": support("reject: 486", CALLERS), "vip.yaml": VIP}
        async with rt(flows=flows, clock=Clock(MORNING)) as h:
            placed = await h.place(to=SUPPORT_NUMBER, anonymous=True, carrier=carrier)
            assert placed.status == 200
            call = placed.call
            assert _tool_names(call.accept_body) == []
            await call.wait_for_request("hangup", timeout=3)
            said = call.server_events_of("response.output_audio_transcript.done")
            assert [e["transcript"] for e in said] == [
                "Please call again with your number shown. Goodbye."
            ]

    asyncio.run(main())


def test_a_hand_off_loop_is_rejected_480(rt, caplog):
    async def main():
        ping = support("flow: pong")
        pong = AFTER_HOURS.rstrip(" ") + (
            '    hours:\n      open:\n        sat: "09:00-10:00"\n'
            "      when_closed:\n        flow: support\n"
        )
        flows = {"support.yaml": ping, "pong.yaml": pong}
        async with rt(flows=flows, clock=Clock(CLOSING)) as h:
            _loaded(h, "support.yaml", "pong.yaml")
            placed = await h.place(to=SUPPORT_NUMBER)
            assert placed.status == 200
            assert placed.call.requests_for("reject")[0].body == {"status_code": 480}
            assert h.engine.metrics.value("engine_webhooks_total", outcome="rejected") == 1

    with caplog.at_level("INFO", logger="engine"):
        asyncio.run(main())
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("hand-off loop" in m and "rejecting with SIP 480" in m for m in errors), errors


def test_refusals_are_logged_by_kind(rt, caplog):
    async def main():
        flows = {"support.yaml": support("reject: 486", CALLERS), "vip.yaml": VIP}
        async with rt(flows=flows, clock=Clock(CLOSING)) as h:
            await h.place(to=SUPPORT_NUMBER, from_="+14155550100")
            await h.place(to=SUPPORT_NUMBER, from_=BLOCKED_CALLER)
            metrics = await h.http.get(h.url + "/metrics")
            assert 'engine_webhooks_total{outcome="rejected"} 2.0' in metrics.text

    with caplog.at_level("INFO", logger="engine"):
        asyncio.run(main())
    infos = [r.getMessage() for r in caplog.records if r.name == "engine.server"]
    assert any("closed (Mon 2026-03-02 17:30 Europe/London)" in m for m in infos), infos
    assert any("caller rule 1" in m and "SIP 603" in m for m in infos), infos
    assert not any(BLOCKED_CALLER in m and "From" in m for m in infos)

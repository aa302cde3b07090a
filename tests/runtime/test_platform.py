"""The real platform's awkward behaviours, end to end (issue #9): the engine and the simulated
OpenAI on loopback, each test a real call.

What a caller must never get: silence because a request was lost, the agent speaking twice,
audio that goes on after a key, a call left up with nobody steering it.
"""

from __future__ import annotations

import asyncio

from engine.openai.rest import RetryBudget
from engine.simulator import RestFault, Timing

from harness import BANK_NUMBER as NUMBER
from harness import bank_flow
from helpers import hears, said

# Audio that plays on for a while after each response.done, as over SIP.
LONG_AUDIO = {"timing": Timing(playback_per_char_s=0.03, min_playback_s=0.5)}


def spoken(call) -> list[str]:
    """Every line the agent spoke on the call, ours or the server's own."""
    return [e["transcript"] for e in call.server_events_of("response.output_audio_transcript.done")]


# -- audio that plays on after response.done ---------------------------------------------------
def test_a_key_clears_audio_that_still_plays_after_the_response_is_done(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}, simulator=LONG_AUDIO) as h:
            call = await h.answered(NUMBER)
            call.model.speak("Here is a long story about everything the bank offers you.")
            await call.say("Tell me everything.")
            done = await call.wait_for_server_event("response.done", count=2, timeout=3)
            rid = done["response"]["id"]
            assert not call.server_events_of("output_audio_buffer.stopped")[1:], "still playing"
            await call.press("1")
            cleared = await call.wait_for_server_event(
                "output_audio_buffer.cleared", where=lambda e: e.get("response_id") == rid
            )
            assert cleared
            types = call.client_event_types()
            clear = types.index("output_audio_buffer.clear")
            assert "response.cancel" not in types[clear - 1 : clear]  # nothing to cancel
            stopped = [
                e["response_id"] for e in call.server_events_of("output_audio_buffer.stopped")
            ]
            assert rid not in stopped  # the caller never heard the rest
            await hears(call, "Your balance is forty-two dollars.")
            assert call.violations == []

    asyncio.run(main())


# -- the server answers a tool output by itself ------------------------------------------------
def test_the_server_answering_a_tool_output_itself_makes_the_agent_speak_once(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            call.faults.auto_response_after_tool_output = True
            call.model.call_tool("account", {})
            call.model.speak("Please key in your account number.")
            call.model.speak("This must never be said: a second reply.")
            await call.say("My account, please.")
            output = await call.wait_for_client_event(
                "conversation.item.create",
                where=lambda e: e["item"]["type"] == "function_call_output",
            )
            await call.wait_until(
                lambda: any(
                    e["error"].get("code") == "conversation_already_has_active_response"
                    for e in call.server_events_of("error")
                ),
                what="the engine's reply to collide with the server's own",
            )
            await call.wait_idle()
            # Anything the engine asks for after the server's reply comes before its answer
            # to a key pressed now: one digit of the account number, then the entry's timeout
            # tells the model. Between the tool output and that note, one request only.
            await call.press("5")
            await call.wait_for_client_event(
                "conversation.item.create",
                where=lambda e: "stopped after 1 digit" in str(e["item"].get("content")),
                timeout=3,
            )
            events = [r.event for r in call.client_events]
            output_at = events.index(output)
            note_at = next(
                i
                for i, e in enumerate(events)
                if e["type"] == "conversation.item.create"
                and "stopped after 1 digit" in str(e["item"].get("content"))
            )
            between = [e["type"] for e in events[output_at:note_at]]
            assert between.count("response.create") == 1
            lines = spoken(call)
            assert "Please key in your account number." in lines
            assert "This must never be said: a second reply." not in lines
            assert call.violations == []

    asyncio.run(main())


# -- the sideband drops or cannot be opened ----------------------------------------------------
def test_a_sideband_that_drops_mid_call_is_opened_again_and_the_call_goes_on(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            opened = h.sim.connections_accepted
            call.drop_sideband()  # a network failure; the SIP call is still up
            await call.wait_until(
                lambda: h.sim.connections_accepted == opened + 1 and call.connected,
                what="the engine to open the sideband again",
            )
            await call.press("1")
            await hears(call, "Your balance is forty-two dollars.")
            assert not call.requests_for("hangup")
            assert not call.ended

    asyncio.run(main())


def test_a_sideband_that_cannot_be_opened_again_gets_the_call_hung_up(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            call.faults.sideband_status = 500
            call.drop_sideband()
            await call.wait_for_request("hangup", timeout=5)
            assert await call.wait_ended(timeout=3) == "hangup"
            await h.wait_calls_over()
            record = await h.record(call.call_id)
            assert "could not be opened" in (record.ended_detail or "")
            assert (record.ended_how, record.outcome) == ("dead_session", "failed")

    asyncio.run(main())


def test_a_call_whose_sideband_never_opens_is_hung_up_not_left_up(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            h.sim.faults.sideband_status = 403
            placed = await h.place(NUMBER)
            assert placed.status == 200
            call = placed.call
            await call.wait_for_request("hangup", timeout=5)
            assert await call.wait_ended(timeout=3) == "hangup"
            assert said(call) == []  # nobody ever spoke

    asyncio.run(main())


# -- shutting down -----------------------------------------------------------------------------
def test_the_drain_deadline_hangs_up_the_calls_it_cuts(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            await h.engine.drain(0.2)  # the caller is still talking to the agent
            assert call.requests_for("hangup"), "a cut call must not be left up at OpenAI"
            assert await call.wait_ended(timeout=3) == "hangup"
            assert not h.engine.calls

    asyncio.run(main())


def test_a_call_whose_sideband_closed_during_the_drain_ends_without_waiting(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            drained = asyncio.create_task(h.engine.drain(60))
            await call.hang_up()  # the caller leaves while the engine drains
            await asyncio.wait_for(drained, 5)  # the call ended; the drain did not run out
            assert not call.requests_for("hangup")  # nothing to hang up: the call was over

    asyncio.run(main())


# -- requests the platform does not answer as asked --------------------------------------------
def test_a_line_whose_response_comes_back_without_our_metadata_does_not_hold_up_the_next(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            call.faults.untagged_responses = 1  # the next response loses our metadata
            await call.press("1")
            await call.wait_until(
                lambda: "Your balance is forty-two dollars." in spoken(call),
                what="the balance line (untagged)",
            )
            await call.wait_idle()
            await call.press("0")  # the transfer line must still go out, then the REFER
            await hears(call, "Connecting you to a person.")
            refer = await call.wait_for_request("refer", timeout=3)
            assert refer.body["target_uri"] == "sip:15551230000@us.wavix.net"
            # the untagged line was taken for ours: said once, not asked for again
            assert spoken(call).count("Your balance is forty-two dollars.") == 1

    asyncio.run(main())


def test_an_error_for_our_request_does_not_leave_the_caller_in_silence(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            call.faults.response_create_errors = 1
            await call.press("1")  # its response.create is answered with an error
            await call.wait_for_server_event(
                "error", where=lambda e: e["error"]["code"] == "server_error"
            )
            await call.press("0")
            await hears(call, "Connecting you to a person.")
            await call.wait_for_request("refer", timeout=3)
            assert "Your balance is forty-two dollars." not in said(call)

    asyncio.run(main())


LADDER = """\
silence:
  after: 5
  steps:
    - say: Are you still there?
"""


def test_a_nudge_that_comes_late_is_still_cancelled(rt):
    slow_nudge = {"timing": Timing(nudge_delay_s=0.3)}

    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow(extra=LADDER)}, simulator=slow_nudge) as h:
            call = await h.answered(NUMBER)
            call.model.nudge("Hello? This is the server's own nudge.")
            assert await call.stay_silent()
            await hears(call, "Are you still there?")
            await call.wait_until(lambda: not call.nudge_pending, what="the late nudge")
            await call.wait_idle()
            lines = spoken(call)
            assert "Hello? This is the server's own nudge." not in lines
            nudges = [
                e
                for e in call.server_events_of("response.done")
                if not (e["response"].get("metadata") or {}).get("engine_request")
            ]
            assert [e["response"]["status"] for e in nudges] == ["cancelled"]

    asyncio.run(main())


# -- the caller is gone before the call is steered ---------------------------------------------
def test_a_caller_gone_while_it_rang_ends_the_call_without_a_hangup(rt):
    async def main() -> None:
        for how in ("404", "close"):
            async with rt(flows={"bank.yaml": bank_flow()}) as h:
                h.sim.faults.caller_gone_on_accept = how
                placed = await h.place(NUMBER)
                assert placed.status == 200
                call = placed.call
                assert await call.wait_ended() == "caller_hangup"
                await h.wait_calls_over()
                record = await h.record(call.call_id)
                assert (record.ended_how, record.outcome) == ("caller_hung_up", "abandoned"), how
                assert record.ended_detail in (
                    "the caller hung up before the call could be steered",  # 404 at once
                    "the call is gone",  # opened, closed at once, then 404
                ), how
                assert not call.requests_for("hangup"), how  # nothing left to hang up
                assert said(call) == [], how

    asyncio.run(main())


def test_a_sideband_closed_with_1011_is_opened_again(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            handshakes = len(call.sideband_handshakes)
            call.drop_sideband(1011)
            await call.wait_until(
                lambda: len(call.sideband_handshakes) == handshakes + 1 and call.connected,
                what="a new sideband",
            )
            await call.press("1")
            await hears(call, "Your balance is forty-two dollars.")
            assert len(call.sideband_handshakes) == handshakes + 1  # opened again once
            assert not call.ended and not call.requests_for("hangup")

    asyncio.run(main())


# -- a transfer that rings ---------------------------------------------------------------------
def test_a_transfer_that_rings_holds_the_caller_in_silence_and_sends_one_refer(rt):
    flow = bank_flow(extra=LADDER).replace("transfer_wait: 0.4", "transfer_wait: 3")

    async def main() -> None:
        async with rt(flows={"bank.yaml": flow}) as h:
            call = await h.answered(NUMBER)
            call.faults.refer_ring_s = 0.6  # the person answers on the second ring
            handshakes = len(call.sideband_handshakes)
            await call.press("0")
            await call.wait_for_request("refer", timeout=3)
            hold = await call.wait_for_client_event(
                "session.update",
                where=lambda e: (
                    e["session"]["audio"]["input"]["turn_detection"]["idle_timeout_ms"] is None
                ),
            )
            assert hold  # no nudge, no silence step while it rings
            await call.press("1")  # keys change nothing on hold
            assert await call.wait_ended(timeout=5) == "transferred"
            assert len(call.requests_for("refer")) == 1
            assert not [w for w in call.warnings if "still rings" in w]
            assert said(call)[-1] == "Connecting you to a person."
            await h.wait_calls_over()
            # The socket closing while the REFER was out is the transfer taking the call:
            # no second handshake, no hangup.
            assert len(call.sideband_handshakes) == handshakes
            assert not call.requests_for("hangup")
            record = await h.record(call.call_id)
            assert (record.ended_how, record.outcome) == ("transferred", "transferred")

    asyncio.run(main())


def test_an_accept_that_took_effect_but_answered_late_is_never_rejected(rt):
    async def main() -> None:
        budgets = {"accept": RetryBudget(4.0, first_pause_s=0.05, max_pause_s=0.1)}
        async with rt(
            flows={"bank.yaml": bank_flow()}, rest_timeout_s=0.3, rest_budgets=budgets
        ) as h:
            h.sim.faults.accept = RestFault(hang_s=1.0, took_effect=True, times=1)
            placed = await h.place(NUMBER)
            assert placed.status == 200
            call = placed.call
            assert len(call.requests_for("accept")) >= 2  # the first got no answer in time
            assert not call.requests_for("reject")
            await call.wait_connected(timeout=3)
            await hears(call, "Welcome to the bank.")  # the call runs as any other

    asyncio.run(main())

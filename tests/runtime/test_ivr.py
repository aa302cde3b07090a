"""IVR behaviours end to end: the engine and the simulated OpenAI on loopback (issue #4).

Each test is a real call: a signed webhook, accept, the sideband socket, REST refer/hangup.
Times are shortened (a transfer wait of a fraction of a second, a time limit of seconds), the
behaviour is the one a caller gets.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.call.events import KeypadPressed, TimerFired
from engine.flow.model import Lines
from engine.simulator import Timing

from harness import BANK_NUMBER, bank_flow
from helpers import hears, said

NUMBER = BANK_NUMBER
SLOW_AUDIO = {"timing": Timing(playback_per_char_s=0.004, min_playback_s=0.1)}


def notes(call) -> list[str]:
    return [
        e["item"]["content"][0]["text"]
        for e in call.client_events_of("conversation.item.create")
        if e["item"]["type"] == "message"
    ]


def refer_targets(call) -> list[str]:
    return [r.body["target_uri"] for r in call.requests_for("refer")]


def service(serve, delay_s: float = 0.0):
    """An outside HTTP service on loopback: ``async with service(serve) as base_url`` (the
    ``serve`` fixture), with the paths it was asked in ``seen``."""
    seen: list[str] = []

    async def answer(request: Request) -> Response:
        seen.append(request.url.path)
        await asyncio.sleep(delay_s)
        return JSONResponse({"balance": "42.00"})

    return serve(Starlette(routes=[Route("/{path:path}", answer)])), seen


# -- keypad ------------------------------------------------------------------------------
def test_a_key_stops_the_agent_mid_sentence_and_runs_its_tool(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}, simulator=SLOW_AUDIO) as h:
            call = await h.answered(NUMBER)
            call.model.speak("Let me tell you about all our many services today", hold=True)
            await call.say("What can you do?")
            await call.wait_until(lambda: call.response_active, what="the agent talking")
            await call.press("1")
            await call.wait_for_client_event(
                "response.create",
                where=lambda e: "forty-two" in e["response"].get("instructions", ""),
                timeout=3,
            )
            types = call.client_event_types()
            cancel = types.index("response.cancel")
            assert types[cancel + 1] == "output_audio_buffer.clear"
            assert "The caller pressed 1 on the keypad." in notes(call)
            await hears(call, "Your balance is forty-two dollars.")
            assert call.violations == []

    asyncio.run(main())


def test_digits_are_collected_and_drive_the_http_tool(rt, serve):
    async def main() -> None:
        running, seen = service(serve)
        async with running as base, rt(flows={"bank.yaml": bank_flow(base)}) as h:
            call = await h.answered(NUMBER)
            await call.press("2")  # to the account state
            await call.wait_for_client_event("session.update", timeout=3)
            await call.wait_idle()
            for key in "123456":
                await call.press(key)
            await h.wait_for(lambda: seen, 3, "the account service to be asked")
            assert seen == ["/accounts/123456"]
            await call.wait_for_client_event(
                "conversation.item.create",
                where=lambda e: "check_account tool answered" in json.dumps(e),
                timeout=3,
            )
            assert "The caller keyed in account_number: 123456." in notes(call)
            assert call.violations == []

    asyncio.run(main())


def test_an_entry_that_stops_short_is_told_to_the_model_after_the_timeout(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            await call.press("2")
            await call.wait_for_client_event("session.update", timeout=3)
            await call.wait_idle()
            await call.press("4")
            await call.press("2")
            note = await call.wait_for_client_event(
                "conversation.item.create",
                where=lambda e: "stopped after 2 digits" in json.dumps(e),
                timeout=3,
            )
            assert "6 are needed" in json.dumps(note)
            # and the model is asked to respond (it asks again), the call goes on
            await call.wait_idle()
            assert not call.ended

    asyncio.run(main())


def test_keys_during_a_transfer_and_after_the_hangup_change_nothing(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            call.faults.refer_ring_s = 0.3  # the call stays up while the target rings
            machine = h.engine.drivers[call.call_id].machine
            await call.press("0")
            await call.wait_for_request("refer", timeout=3)
            before = call.client_event_types()
            await call.press("1")  # while the transfer is under way
            await h.wait_for(lambda: KeypadPressed("1") in machine.events, 3, "the key taken")
            assert await call.wait_ended(timeout=3) == "transferred"
            await h.wait_calls_over()  # the engine is done with the call: it sends no more
            assert machine.events.index(KeypadPressed("1")) < len(machine.events) - 1
            assert call.client_event_types() == before

            second = await h.answered(NUMBER)
            second.model.call_tool("goodbye", {})
            await second.say("Bye.")
            await second.wait_for_request("hangup", timeout=3)
            assert await second.wait_ended(timeout=3) == "hangup"
            count = len(second.client_event_types())
            with pytest.raises(RuntimeError, match="has ended"):
                await second.press("1")  # a key after the hangup does not even reach us
            await h.wait_calls_over()
            assert len(second.client_event_types()) == count

    asyncio.run(main())


# -- silence -----------------------------------------------------------------------------
LADDER = """\
silence:
  after: 5
  steps:
    - say: Are you still there?
    - instructions: Ask again, in simpler words, how you can help.
    - say: I'll let you go now. Goodbye.
      hangup: true
"""


def test_the_silence_ladder_replaces_the_servers_nudge_and_ends_politely(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow(extra=LADDER)}) as h:
            placed = await h.place(NUMBER)
            call = placed.call
            vad = call.accept_body["audio"]["input"]["turn_detection"]
            assert vad == {"type": "server_vad", "idle_timeout_ms": 5000}
            await call.wait_for_client_event("response.create")
            await call.wait_idle()

            assert await call.stay_silent()
            await hears(call, "Are you still there?")
            assert call.client_event_types().count("response.cancel") == 1  # the server's nudge

            assert await call.stay_silent()
            await call.wait_for_client_event("response.cancel", count=2, timeout=3)
            await call.wait_until(lambda: len(said(call)) == 3, what="the rephrased question")
            await call.wait_idle()
            assert notes(call)[-1] == "Ask again, in simpler words, how you can help."

            assert await call.stay_silent()
            await call.wait_for_request("hangup", timeout=3)
            assert said(call)[-1] == "I'll let you go now. Goodbye."
            assert call.violations == []

    asyncio.run(main())


def test_speaking_starts_the_ladder_again(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow(extra=LADDER)}) as h:
            call = await h.answered(NUMBER)
            assert await call.stay_silent()
            await hears(call, "Are you still there?")
            await call.say("Sorry, I'm here.")
            await call.wait_idle()
            assert await call.stay_silent()
            await hears(call, "Are you still there?", count=2)  # the first step again
            assert not [n for n in notes(call) if "simpler words" in n]

    asyncio.run(main())


def test_silence_while_a_tool_runs_is_not_counted(rt, serve):
    async def main() -> None:
        running, _ = service(serve, delay_s=0.6)
        async with running as base:
            flow = bank_flow(base, extra=LADDER).replace(
                "tools: [balance, account]", "tools: [balance, account, slow_lookup]"
            )
            async with rt(flows={"bank.yaml": flow}) as h:
                call = await h.answered(NUMBER)
                call.model.call_tool("slow_lookup", {})
                await call.say("Look it up please.")
                await call.wait_for_client_event(
                    "response.create",
                    where=lambda e: "One moment" in json.dumps(e),
                    timeout=3,
                )
                await call.wait_idle()
                assert await call.stay_silent()  # during the lookup
                await call.wait_for_client_event("response.cancel", timeout=3)
                await call.wait_for_client_event(
                    "conversation.item.create",
                    where=lambda e: e["item"]["type"] == "function_call_output",
                    timeout=3,
                )
                await call.wait_idle()
                assert "Are you still there?" not in said(call)
                assert await call.stay_silent()  # a real silence: the first step
                await hears(call, "Are you still there?")

    asyncio.run(main())


# -- transfers ---------------------------------------------------------------------------
def test_a_transfer_that_never_takes_tries_the_next_target_then_falls_back(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            call.faults.refer_vanishes = True  # 200 from refer, and the call stays up
            call.model.call_tool("to_person", {})
            await call.say("A person, please.")
            await hears(call, "Nobody is free right now.")
            assert refer_targets(call) == ["sip:15551230000@us.wavix.net", "sip:desk@pbx.example"]
            assert said(call)[-3:] == [
                "Connecting you to a person.",
                Lines().transfer_retry,
                "Nobody is free right now.",
            ]
            await call.wait_idle()
            assert not call.ended  # the fallback moved the call back to the menu
            update = call.client_events_of("session.update")[-1]
            assert "Offer balances" in update["session"]["instructions"]

    asyncio.run(main())


def test_the_second_target_takes_when_the_first_vanishes(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            call = await h.answered(NUMBER)
            call.faults.refer_vanishes = 1  # only the first REFER vanishes
            await call.press("0")
            assert await call.wait_ended(timeout=5) == "transferred"
            assert refer_targets(call) == ["sip:15551230000@us.wavix.net", "sip:desk@pbx.example"]

    asyncio.run(main())


def test_a_refer_whose_call_never_ends_is_hung_up_politely(rt):
    flow = bank_flow().replace(
        "fallback: {say: Nobody is free right now., goto: menu}",
        "fallback: {say: Please call again later. Goodbye., hangup: true}",
    )

    async def main() -> None:
        async with rt(flows={"bank.yaml": flow}) as h:
            call = await h.answered(NUMBER)
            call.faults.refer_vanishes = True
            await call.press("0")
            await call.wait_for_request("hangup", timeout=5)
            assert said(call)[-1] == "Please call again later. Goodbye."
            assert len(refer_targets(call)) == 2

    asyncio.run(main())


# -- limits ------------------------------------------------------------------------------
def test_the_time_limit_warns_then_says_goodbye_and_hangs_up(rt):
    extra = "limits: {call_minutes: 0.02, warn_minutes: 0.01}\n"  # 1.2 s, warned at 0.6 s

    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow(extra=extra)}) as h:
            call = await h.answered(NUMBER)
            await call.wait_for_request("hangup", timeout=5)
            assert said(call)[-2:] == [Lines().time_warning, Lines().time_up]

    asyncio.run(main())


def test_tool_failures_in_a_row_end_the_call_politely(rt):
    extra = "limits: {tool_failures: 2}\n"

    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow(extra=extra)}) as h:
            call = await h.answered(NUMBER)
            call.model.call_tool("no_such_tool", {})
            await call.say("Do the thing.")
            await call.wait_idle()
            call.model.call_tool("no_such_tool", {})
            await call.say("Do the thing again.")
            await call.wait_for_request("hangup", timeout=5)
            assert said(call)[-1] == Lines().tools_failing

    asyncio.run(main())


# -- fillers and global tools --------------------------------------------------------------
def test_a_slow_tool_gets_its_filler_and_a_fast_one_does_not(rt, serve):
    async def main() -> None:
        for delay, expected in ((0.6, True), (0.0, False)):
            running, seen = service(serve, delay_s=delay)
            async with running as base:
                flow = bank_flow(base).replace(
                    "tools: [balance, account]", "tools: [balance, account, slow_lookup]"
                )
                async with rt(flows={"bank.yaml": flow}) as h:
                    call = await h.answered(NUMBER)
                    driver = h.engine.drivers[call.call_id]
                    call.model.call_tool("slow_lookup", {})
                    await call.say("Look it up please.")
                    await call.wait_for_client_event(
                        "conversation.item.create",
                        where=lambda e: e["item"]["type"] == "function_call_output",
                        timeout=3,
                    )
                    # The answer cancels the filler's timer before it is handed on: a timer
                    # neither fired nor pending never will.
                    fired = [
                        e
                        for e in driver.machine.events
                        if isinstance(e, TimerFired) and "filler" in str(e.name)
                    ]
                    assert bool(fired) is expected, (delay, driver.machine.events)
                    assert not [t for t in driver.pending_timers if "filler" in str(t)]
                    await call.wait_idle()
                    has_filler = "One moment while I look that up." in said(call)
                    assert has_filler is expected, (delay, said(call))
                    assert seen == ["/slow"]

    asyncio.run(main())


def test_global_tools_are_offered_in_every_state(rt):
    async def main() -> None:
        async with rt(flows={"bank.yaml": bank_flow()}) as h:
            placed = await h.place(NUMBER)
            call = placed.call
            names = [t["name"] for t in call.accept_body["tools"]]
            assert names == ["balance", "account", "to_person", "goodbye"]
            await call.wait_for_client_event("response.create")
            await call.wait_idle()
            await call.press("2")
            update = await call.wait_for_client_event("session.update", timeout=3)
            assert [t["name"] for t in update["session"]["tools"]] == ["to_person", "goodbye"]

    asyncio.run(main())

"""The simulator and the client events an IVR sends: cancelling and clearing, system
notes, idle timeouts set and changed mid-call, the server's nudge, keys pressed while the
agent talks, and transfers that take or vanish."""

import httpx
import pytest

from engine.openai import CallControl
from engine.openai.errors import CallControlError
from engine.openai.rest import RetryBudget
from engine.simulator import ModelTurn, RestFault, Simulator, Timing

from helpers import outlast_a_transfer, run, wait_for

IDLE = {"type": "server_vad", "idle_timeout_ms": 8000}
IDLE_SESSION = {"type": "realtime", "audio": {"input": {"turn_detection": IDLE}}}
NOTE = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "system",
        "content": [{"type": "input_text", "text": "The caller pressed 1 on the keypad."}],
    },
}
CANCEL_AND_CLEAR = [{"type": "response.cancel"}, {"type": "output_audio_buffer.clear"}]


def idle_update(idle_ms, **extra):
    vad = {"type": "server_vad", "idle_timeout_ms": idle_ms, **extra}
    return {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": {"turn_detection": vad}}},
    }


def vad(call):
    return call.session["audio"]["input"]["turn_detection"]


# -- strict validation -------------------------------------------------------------------
def test_the_ivr_events_match_the_sdk_types(live):
    pytest.importorskip("openai", minversion="3.52")

    async def main():
        async with live(IDLE_SESSION, strict=True) as (_sim, call, sb, _r):
            call.model.speak("Welcome to the bank.", hold=True)
            await sb.send({"type": "response.create", "response": {"metadata": {"a": "1"}}})
            created = await call.wait_for_server_event("response.created")
            await sb.send({"type": "response.cancel", "response_id": created["response"]["id"]})
            await sb.send({"type": "output_audio_buffer.clear", "event_id": "clear_1"})
            await sb.send(NOTE)
            await sb.send(idle_update(12000))
            await sb.send(idle_update(None))
            await call.wait_for_server_event("session.updated", count=2)
        assert call.violations == []

    run(main())


def test_ivr_events_shaped_wrong_are_violations(live):
    pytest.importorskip("openai", minversion="3.52")

    async def main():
        async with live(strict=True) as (_sim, call, sb, _r):
            await sb.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "system",
                        "content": [{"type": "text", "text": "beta shape"}],
                    },
                }
            )
            semantic = {"type": "semantic_vad", "idle_timeout_ms": 8000}
            await sb.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {"input": {"turn_detection": semantic}},
                    },
                }
            )
            await sb.send({"type": "output_audio_buffer.clear", "response_id": "resp_1"})
            await call.wait_for_client_event("output_audio_buffer.clear")
        found = "\n".join(call.violations)
        assert "content.0.type" in found
        assert "idle_timeout_ms: Extra inputs are not permitted" in found
        assert "response_id: Extra inputs are not permitted" in found

    run(main())


# -- idle_timeout_ms: checked, and the session's own ----------------------------------------
@pytest.mark.parametrize(
    ("idle", "code", "message"),
    [
        (4999, "integer_out_of_range", "must be between 5000 and 30000, got 4999"),
        (30001, "integer_out_of_range", "must be between 5000 and 30000, got 30001"),
        (0, "integer_out_of_range", "got 0"),
        (8000.5, "invalid_type", "expected an integer, but got a decimal number"),
        (8000.0, "invalid_type", "expected an integer, but got a decimal number"),
        ("8000", "invalid_type", "expected an integer, but got a string"),
        (True, "invalid_type", "expected an integer, but got a boolean"),
    ],
)
def test_session_update_with_a_bad_idle_timeout_is_an_error_and_changes_nothing(
    live, idle, code, message
):
    async def main():
        async with live(IDLE_SESSION) as (_sim, call, sb, _r):
            event = idle_update(idle)
            event["event_id"] = "upd_1"
            await sb.send(event)
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == code
            assert message in error["error"]["message"]
            assert error["error"]["param"] == "session.audio.input.turn_detection.idle_timeout_ms"
            assert error["error"]["event_id"] == "upd_1"
            assert "session.updated" not in call.server_event_types()
            assert vad(call)["idle_timeout_ms"] == 8000

    run(main())


def test_idle_timeout_is_server_vad_only(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            semantic = {"type": "semantic_vad", "idle_timeout_ms": 8000}
            await sb.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {"input": {"turn_detection": semantic}},
                    },
                }
            )
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "invalid_value"
            assert "server_vad" in error["error"]["message"]

    run(main())


@pytest.mark.parametrize(
    ("idle", "ok"), [(4999, False), (5000, True), (30000, True), (30001, False)]
)
def test_accept_checks_the_idle_timeout_range(idle, ok):
    async def main():
        async with Simulator() as sim, httpx.AsyncClient() as http:
            call = sim.new_call()
            body = {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": idle}}
                },
            }
            control = CallControl(http, sim.config())
            if ok:
                await control.accept(call.call_id, body)
                assert vad(call)["idle_timeout_ms"] == idle
            else:
                with pytest.raises(CallControlError):
                    await control.accept(call.call_id, body)
                response = call.requests_for("accept")[0]
                assert response.status == 400
                assert call.state == "pending"

    run(main())


def test_session_update_sets_the_idle_timeout_stay_silent_uses(live):
    async def main():
        async with live(IDLE_SESSION) as (_sim, call, sb, _r):
            await sb.send(idle_update(12000))
            updated = await call.wait_for_server_event("session.updated")
            effective = updated["session"]["audio"]["input"]["turn_detection"]
            # the fields not sent are the defaults
            assert effective == {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "idle_timeout_ms": 12000,
                "create_response": True,
                "interrupt_response": True,
            }
            assert await call.stay_silent() is True
            timeout = call.server_events_of("input_audio_buffer.timeout_triggered")[0]
            assert timeout["audio_end_ms"] - timeout["audio_start_ms"] == 12000
            await call.wait_idle()

            await sb.send(idle_update(None))  # a state without a ladder
            updated = await call.wait_for_server_event("session.updated", count=2)
            assert updated["session"]["audio"]["input"]["turn_detection"]["idle_timeout_ms"] is None
            assert await call.stay_silent() is False
            assert len(call.server_events_of("input_audio_buffer.timeout_triggered")) == 1
            assert "no server_vad idle_timeout_ms" in call.warnings[-1]

            await sb.send(idle_update(5000))
            await call.wait_for_server_event("session.updated", count=3)
            assert await call.stay_silent() is True
            second = call.server_events_of("input_audio_buffer.timeout_triggered")[1]
            assert second["audio_end_ms"] - second["audio_start_ms"] == 5000
            assert second["audio_start_ms"] >= timeout["audio_end_ms"]

    run(main())


def test_an_update_without_audio_keeps_the_idle_timeout(live):
    async def main():
        async with live(IDLE_SESSION) as (_sim, call, sb, _r):
            await sb.send(
                {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}}
            )
            await call.wait_for_server_event("session.updated")
            assert vad(call)["idle_timeout_ms"] == 8000

    run(main())


# -- the server's nudge ------------------------------------------------------------------
def test_the_nudge_follows_the_timeout_and_speaks_after_its_latency(live):
    async def main():
        requests = []

        def responder(_call, request):
            requests.append(request)
            return None

        async with live(IDLE_SESSION, timing=Timing(nudge_latency_s=0.05)) as (sim, call, _sb, _r):
            sim.responder = responder
            start = len(call.server_events)
            assert await call.stay_silent() is True
            assert call.server_event_types()[start : start + 5] == [
                "input_audio_buffer.timeout_triggered",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
            ]
            timeout = call.server_events_of("input_audio_buffer.timeout_triggered")[0]
            committed = call.server_events_of("input_audio_buffer.committed")[0]
            assert committed["item_id"] == timeout["item_id"]
            user = call.server_events_of("conversation.item.added")[0]["item"]
            assert user["role"] == "user" and user["content"][0]["type"] == "input_audio"
            assert [r.trigger for r in requests] == ["idle_timeout"]
            assert requests[0].params == {}
            # nothing is said until the latency has passed
            assert "response.output_item.added" not in call.server_event_types()
            done = await call.wait_for_server_event("response.output_audio_transcript.done")
            assert done["transcript"] == "Are you still there?"
            created = next(r for r in call.server_events if r.type == "response.created")
            first = next(r for r in call.server_events if r.type == "response.output_item.added")
            assert first.at - created.at >= 0.05
            await call.wait_idle()

    run(main())


def test_a_client_can_cancel_the_nudge_before_it_speaks_then_say_its_own_line(live):
    async def main():
        async with live(IDLE_SESSION) as (_sim, call, sb, _r):
            call.model.speak("Scripted for the client's own response.")
            assert await call.stay_silent() is True
            created = await call.wait_for_server_event("response.created")
            for event in CANCEL_AND_CLEAR:
                await sb.send(event)
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["id"] == created["response"]["id"]
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"] == {
                "type": "cancelled",
                "reason": "client_cancelled",
            }
            assert done["response"]["output"] == []
            await call.wait_for_client_event("output_audio_buffer.clear")
            types = call.server_event_types()
            assert "output_audio_buffer.started" not in types
            assert "response.output_audio_transcript.delta" not in types
            assert "error" not in types  # the cancel found the nudge active
            await call.wait_idle()
            # the scripted turn was kept for the response the client asks for
            await sb.send({"type": "response.create", "response": {"instructions": "x"}})
            said = await call.wait_for_server_event("response.output_audio_transcript.done")
            assert said["transcript"] == "Scripted for the client's own response."

    run(main())


def test_nudges_can_be_scripted_and_held(live):
    async def main():
        async with live(IDLE_SESSION, timing=Timing(nudge_latency_s=0)) as (_sim, call, sb, _r):
            call.model.nudge("Hello? Anyone there?", hold=True)
            assert await call.stay_silent() is True
            await call.wait_for_server_event("response.output_audio_transcript.delta")
            assert call.response_active
            # a second silence while the nudge is talking does not time out
            assert await call.stay_silent() is False
            for event in CANCEL_AND_CLEAR:
                await sb.send(event)
            cleared = await call.wait_for_server_event("output_audio_buffer.cleared")
            done = call.server_events_of("response.done")[0]
            assert cleared["response_id"] == done["response"]["id"]
            assert done["response"]["output"][0]["content"][0]["transcript"] == "Hello?"
            await call.wait_idle()
            assert await call.stay_silent() is True  # the next one is the default again
            said = await call.wait_for_server_event(
                "response.output_audio_transcript.done", count=2
            )
            assert said["transcript"] == "Are you still there?"

    run(main())


# -- cancel and clear --------------------------------------------------------------------
def test_cancel_then_clear_mid_response_in_the_documented_order(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            call.model.speak("Your balance is one hundred dollars and ten cents.", hold=True)
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("output_audio_buffer.started")
            start = len(call.server_events)
            for event in CANCEL_AND_CLEAR:
                await sb.send(event)
            await call.wait_for_server_event("output_audio_buffer.cleared")
            types = call.server_event_types()[start:]
            assert types.index("response.done") < types.index("output_audio_buffer.cleared")
            assert "output_audio_buffer.stopped" not in types
            await call.wait_idle()

    run(main())


def test_cancel_alone_lets_the_generated_audio_play_out(live):
    async def main():
        async with live(timing=Timing(min_playback_s=0.05)) as (_sim, call, sb, _r):
            call.model.speak("Your balance is one hundred dollars.", hold=True)
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("output_audio_buffer.started")
            await sb.send({"type": "response.cancel"})
            await call.wait_for_server_event("response.done")
            assert not call.response_active
            stopped = await call.wait_for_server_event("output_audio_buffer.stopped")
            assert "output_audio_buffer.cleared" not in call.server_event_types()
            assert (
                stopped["response_id"]
                == call.server_events_of("response.done")[0]["response"]["id"]
            )

    run(main())


def test_clear_during_playback_after_the_response_is_done(live):
    async def main():
        async with live(timing=Timing(min_playback_s=5)) as (_sim, call, sb, _r):
            await sb.send({"type": "response.create"})
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["status"] == "completed"
            # nothing to cancel: an error the session survives, then the clear works
            for event in CANCEL_AND_CLEAR:
                await sb.send(event)
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "response_cancel_not_active"
            cleared = await call.wait_for_server_event("output_audio_buffer.cleared")
            assert cleared["response_id"] == done["response"]["id"]
            await call.wait_idle(timeout=0.5)
            assert "output_audio_buffer.stopped" not in call.server_event_types()

    run(main())


# -- system notes ------------------------------------------------------------------------
def test_a_system_note_joins_the_conversation_without_a_response(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send(NOTE)
            added = await call.wait_for_server_event("conversation.item.added")
            item = added["item"]
            assert item["role"] == "system" and item["type"] == "message"
            assert item["content"] == NOTE["item"]["content"]
            assert item["id"].startswith("item_") and item["status"] == "completed"
            done = await call.wait_for_server_event("conversation.item.done")
            assert done["item"] == item
            # Client events are taken in order: a response the note started would be
            # created before the one asked for after it.
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.done")
            created = call.server_events_of("response.created")
            assert len(created) == 1
            assert (
                created[0]["response"]["id"]
                == call.server_events_of("response.done")[0]["response"]["id"]
            )

    run(main())


def test_a_note_while_the_agent_talks_does_not_disturb_the_response(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            call.model.speak("Let me read you the options.", hold=True)
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.output_audio_transcript.delta")
            await sb.send(NOTE)
            await call.wait_for_server_event(
                "conversation.item.added", where=lambda e: e["item"]["role"] == "system"
            )
            assert call.response_active
            call.release()
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["status"] == "completed"

    run(main())


@pytest.mark.parametrize(
    ("role", "content", "param"),
    [
        ("system", [{"type": "text", "text": "x"}], "item.content[0].type"),
        ("system", [{"type": "input_audio", "audio": ""}], "item.content[0].type"),
        ("system", [{"type": "input_text"}], "item.content[0].text"),
        ("system", "just text", "item.content"),
        ("user", [{"type": "output_text", "text": "x"}], "item.content[0].type"),
        ("assistant", [{"type": "input_text", "text": "x"}], "item.content[0].type"),
        ("assistant", [{"type": "output_audio", "transcript": "x"}], "item.content[0]"),
    ],
)
def test_message_content_the_role_cannot_carry_is_refused(live, role, content, param):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send(
                {
                    "type": "conversation.item.create",
                    "event_id": "note_1",
                    "item": {"type": "message", "role": role, "content": content},
                }
            )
            error = await call.wait_for_server_event("error")
            assert error["error"]["param"] == param
            assert error["error"]["event_id"] == "note_1"
            assert "conversation.item.added" not in call.server_event_types()

    run(main())


def test_previous_item_id_inserts_after_it_or_is_an_error(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send({**NOTE, "event_id": "a"})
            first = (await call.wait_for_server_event("conversation.item.added"))["item"]["id"]
            await sb.send(NOTE)
            second = await call.wait_for_server_event("conversation.item.added", count=2)
            assert second["previous_item_id"] == first
            await sb.send({**NOTE, "previous_item_id": first})
            third = await call.wait_for_server_event("conversation.item.added", count=3)
            assert third["previous_item_id"] == first
            await sb.send({**NOTE, "previous_item_id": "item_nope", "event_id": "bad"})
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "item_not_found"
            assert error["error"]["param"] == "previous_item_id"
            assert error["error"]["event_id"] == "bad"
            assert len(call.server_events_of("conversation.item.added")) == 3

    run(main())


# -- keys --------------------------------------------------------------------------------
def test_press_mid_response_reports_the_key_and_leaves_the_response_alone(live):
    async def main():
        async with live() as (_sim, call, sb, received):
            call.model.speak("For balances press one, for an account check press two.", hold=True)
            await sb.send({"type": "response.create"})
            created = await call.wait_for_server_event("response.created")
            await call.wait_for_server_event("response.output_audio_transcript.delta")
            await call.press("1")
            dtmf = await call.wait_for_server_event("input_audio_buffer.dtmf_event_received")
            assert set(dtmf) == {"type", "event", "received_at"} and dtmf["event"] == "1"
            assert call.response_active  # a key is not a barge-in
            assert "response.done" not in call.server_event_types()
            # the client stops the agent, as an IVR does on a key
            for event in CANCEL_AND_CLEAR:
                await sb.send(event)
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["id"] == created["response"]["id"]
            assert done["response"]["status_details"]["reason"] == "client_cancelled"
            await call.wait_for_server_event("output_audio_buffer.cleared")
            # keys during playback, and several in a row, arrive in order
            for key in "42#":
                await call.press(key)

            def keys():
                dtmf = "input_audio_buffer.dtmf_event_received"
                return [e["event"] for e in received if e["type"] == dtmf]

            await wait_for(lambda: len(keys()) == 4, 2, "four keys", interval=0.002)
            assert keys() == ["1", "4", "2", "#"]

    run(main())


def test_press_during_playback_and_after_the_call_ended(live):
    async def main():
        async with live(timing=Timing(min_playback_s=5)) as (_sim, call, sb, _r):
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.done")
            await call.press("0")
            await call.wait_for_server_event("input_audio_buffer.dtmf_event_received")
            assert "output_audio_buffer.cleared" not in call.server_event_types()
            await call.hang_up()
            with pytest.raises(RuntimeError, match="has ended"):
                await call.press("1")

    run(main())


# -- transfers ---------------------------------------------------------------------------
async def refer(sim, http, call, target):
    response = await http.post(
        f"{sim.base_url}/realtime/calls/{call.call_id}/refer",
        json={"target_uri": target},
        headers={"Authorization": f"Bearer {sim.api_key}"},
    )
    assert response.status_code == 200


def test_a_refer_ends_the_call_and_drops_the_sideband_shortly_after(live):
    async def main():
        async with live(timing=Timing(refer_end_s=0.05)) as (sim, call, sb, _r):
            async with httpx.AsyncClient() as http:
                await refer(sim, http, call, "sip:+18005550000@sip.telnyx.com")
            assert call.state == "accepted"
            assert await call.wait_ended() == "transferred"
            assert call.ended_at - call.requests_for("refer")[0].at >= 0.05
            await wait_for(lambda: sb.closed, 2, "the sideband to close", interval=0.005)
            assert sb.close_code in (None, 1006)  # no close frame, as on the real service

    run(main())


def test_refer_vanishes_as_a_count_fails_the_first_target_and_lets_the_next_take(live):
    async def main():
        async with live() as (sim, call, _sb, _r), httpx.AsyncClient() as http:
            call.faults.refer_vanishes = 1
            await refer(sim, http, call, "tel:+18005550001")
            await outlast_a_transfer(sim)
            assert call.state == "accepted"
            assert call.warnings[-1] == "refer to tel:+18005550001 vanished: the call stays up"
            assert call.faults.refer_vanishes == 0
            await refer(sim, http, call, "tel:+18005550002")
            assert await call.wait_ended() == "transferred"
            assert call.refer_targets == ["tel:+18005550001", "tel:+18005550002"]

    run(main())


def test_refer_vanishes_as_a_set_of_targets(live):
    async def main():
        async with live() as (sim, call, _sb, _r), httpx.AsyncClient() as http:
            sim.faults.refer_vanishes = {"sip:desk@pbx.example.com", "tel:+18005550001"}
            for target in ("sip:desk@pbx.example.com", "tel:+18005550001"):
                await refer(sim, http, call, target)
            await outlast_a_transfer(sim)
            assert call.state == "accepted"
            await refer(sim, http, call, "tel:+18005550002")
            assert await call.wait_ended() == "transferred"

    run(main())


def test_refer_vanishes_true_keeps_every_call_up_and_false_lets_them_go(live):
    async def main():
        async with live() as (sim, call, _sb, _r), httpx.AsyncClient() as http:
            call.faults.refer_vanishes = True
            for n in range(3):
                await refer(sim, http, call, f"tel:+1800555000{n}")
            await outlast_a_transfer(sim)
            assert call.state == "accepted"
            assert len([w for w in call.warnings if "vanished" in w]) == 3
            call.faults.refer_vanishes = False
            await refer(sim, http, call, "tel:+18005550009")
            assert await call.wait_ended() == "transferred"

    run(main())


def test_a_failed_refer_request_then_a_working_one(live):
    async def main():
        async with live() as (sim, call, _sb, _r), httpx.AsyncClient() as http:
            call.faults.refer = RestFault(status=500, times=1)
            once = {"refer": RetryBudget(0.1, first_pause_s=0.2, max_pause_s=0.2)}  # no retry
            with pytest.raises(CallControlError):
                await CallControl(http, sim.config(), budgets=once).refer(
                    call.call_id, "tel:+18005550001"
                )
            assert call.refer_targets == []  # the request never reached the trunk
            await CallControl(http, sim.config()).refer(call.call_id, "tel:+18005550002")
            assert await call.wait_ended() == "transferred"
            assert call.refer_targets == ["tel:+18005550002"]

    run(main())


def test_the_nudge_after_a_vanished_refer_still_comes(live):
    async def main():
        async with live(IDLE_SESSION) as (sim, call, _sb, _r), httpx.AsyncClient() as http:
            call.faults.refer_vanishes = True
            await refer(sim, http, call, "tel:+18005550001")
            await outlast_a_transfer(sim)
            assert await call.stay_silent() is True
            await call.wait_for_server_event("response.done")

    run(main())


def test_a_refer_while_the_agent_talks_still_ends_the_call(live):
    async def main():
        async with live() as (sim, call, sb, _r), httpx.AsyncClient() as http:
            call.model.queue(ModelTurn(text="Transferring you now, goodbye.", hold=True))
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.output_audio_transcript.delta")
            await refer(sim, http, call, "tel:+18005550001")
            assert await call.wait_ended() == "transferred"
            assert not call.response_active

    run(main())

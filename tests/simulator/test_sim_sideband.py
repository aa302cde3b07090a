"""The simulator's sideband: event shapes, order, the scripted model and caller."""

import re

import httpx
import pytest

from engine.simulator import ModelTurn, Timing, ToolCall

from helpers import run, wait_for

SPOKEN_RESPONSE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "output_audio_buffer.started",
    "response.output_audio_transcript.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
    "rate_limits.updated",
    "output_audio_buffer.stopped",
]


def squash(types):
    """Collapse runs of the same delta event so orders can be compared exactly."""
    out = []
    for kind in types:
        if not (out and kind == out[-1] and kind.endswith(".delta")):
            out.append(kind)
    return out


def since(call, start):
    return squash(call.server_event_types()[start:])


def test_session_created_has_the_real_shape_and_the_accepted_config(live):
    async def main():
        session = {
            "type": "realtime",
            "instructions": "Be brief.",
            "audio": {
                "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 8000}},
                "output": {"voice": "marin"},
            },
        }
        async with live(session) as (_sim, call, _sb, received):
            await wait_for(lambda: received, 2, "an event", interval=0.002)
            event = received[0]
            assert event == call.server_events[0].event
            assert event["type"] == "session.created"
            assert re.fullmatch(r"event_[A-Za-z0-9]{21}", event["event_id"])
            s = event["session"]
            assert s["type"] == "realtime" and s["object"] == "realtime.session"
            assert s["id"].startswith("sess_")
            assert s["instructions"] == "Be brief."
            assert s["audio"]["output"]["voice"] == "marin"
            vad = s["audio"]["input"]["turn_detection"]
            assert vad["idle_timeout_ms"] == 8000
            assert vad["create_response"] is True and vad["prefix_padding_ms"] == 300
            assert s["audio"]["input"]["format"] == {"type": "audio/pcmu"}

    run(main())


def test_session_update_merges_and_answers_updated(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send(
                {
                    "type": "session.update",
                    "event_id": "client_1",
                    "session": {
                        "type": "realtime",
                        "instructions": "New.",
                        "tools": [{"type": "function", "name": "t"}],
                        "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                    },
                }
            )
            updated = await call.wait_for_server_event("session.updated")
            assert updated["event_id"] != "client_1"
            session = updated["session"]
            assert session["instructions"] == "New."
            assert session["tools"] == [{"type": "function", "name": "t"}]
            assert session["audio"]["input"]["transcription"] == {"model": "whisper-1"}
            assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"

    run(main())


@pytest.mark.parametrize(
    ("session", "message", "code"),
    [
        ({"instructions": "x"}, "Missing required parameter: 'session.type'.",
         "missing_required_parameter"),
        ({"type": "realtime", "voice": "alloy"}, "Unknown parameter: 'session.voice'.",
         "unknown_parameter"),
        ({"type": "realtime", "audio": {"output": {"format": None}}},
         "Invalid type for 'session.audio.output.format'", "invalid_type"),
    ],
)  # fmt: skip
def test_session_update_mistakes_give_error_events(live, session, message, code):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send({"type": "session.update", "event_id": "evt_c1", "session": session})
            error = await call.wait_for_server_event("error")
            assert error["error"]["message"].startswith(message)
            assert error["error"]["code"] == code
            assert error["error"]["event_id"] == "evt_c1"
            assert error["error"]["type"] == "invalid_request_error"
            assert call.server_events_of("session.updated") == []

    run(main())


def test_voice_cannot_change_after_audio(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("output_audio_buffer.stopped")
            await sb.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"output": {"voice": "cedar"}}},
                }
            )
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "cannot_update_voice"

    run(main())


def test_spoken_response_lifecycle_in_the_real_order(live):
    async def main():
        async with live() as (_sim, call, sb, received):
            start = len(call.server_events)
            await sb.send(
                {"type": "response.create", "response": {"instructions": "Say exactly: Hello!"}}
            )
            done = await call.wait_for_server_event("output_audio_buffer.stopped")
            assert since(call, start) == SPOKEN_RESPONSE
            created = call.server_events_of("response.created")[0]["response"]
            final = call.server_events_of("response.done")[0]["response"]
            assert re.fullmatch(r"resp_[A-Za-z0-9]{21}", created["id"])
            assert created["status"] == "in_progress" and created["object"] == "realtime.response"
            assert final["id"] == created["id"] == done["response_id"]
            assert final["status"] == "completed"
            (item,) = final["output"]
            assert item["type"] == "message" and item["role"] == "assistant"
            assert item["content"] == [{"type": "output_audio", "transcript": "Hello!"}]
            assert re.fullmatch(r"item_[A-Za-z0-9]{21}", item["id"])
            assert final["usage"]["total_tokens"] > 0
            transcript = call.server_events_of("response.output_audio_transcript.done")[0]
            assert transcript["transcript"] == "Hello!"
            deltas = call.server_events_of("response.output_audio_transcript.delta")
            assert "".join(d["delta"] for d in deltas) == "Hello!"
            await wait_for(
                lambda: len(received) == len(call.server_events), 2, "every event", interval=0.002
            )
            assert received == [r.event for r in call.server_events]

    run(main())


def test_default_turns_follow_the_instructions(live):
    async def main():
        async with live() as (sim, call, sb, _r):
            sim.responder = lambda c, request: (
                ModelTurn(text="from responder") if request.trigger == "speech" else None
            )
            cases = [
                ({"instructions": "Say exactly: \"Thanks for calling.\""}, "Thanks for calling."),
                ({"instructions": "Say to the user 'Thank you for calling'"},
                 "Thank you for calling"),
                ({"instructions": "Greet the caller warmly."}, "Greet the caller warmly."),
                ({}, "Okay. How else can I help you?"),
            ]  # fmt: skip
            for n, (params, expected) in enumerate(cases, start=1):
                await sb.send({"type": "response.create", "response": params})
                done = await call.wait_for_server_event(
                    "response.output_audio_transcript.done", count=n
                )
                assert done["transcript"] == expected
                await call.wait_idle()
            await call.say("hello")
            done = await call.wait_for_server_event(
                "response.output_audio_transcript.done", count=len(cases) + 1
            )
            assert done["transcript"] == "from responder"

    run(main())


def test_tool_call_lifecycle_with_preamble(live):
    async def main():
        session = {"type": "realtime", "tools": [{"type": "function", "name": "lookup"}]}
        async with live(session) as (_sim, call, sb, _r):
            call.model.call_tool("lookup", {"order_id": "A1"}, preamble="One moment.")
            start = len(call.server_events)
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("output_audio_buffer.stopped")
            types = since(call, start)
            tool_part = types[types.index("conversation.item.done") + 1 :]
            assert tool_part == [
                "response.output_item.added",
                "conversation.item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "conversation.item.done",
                "response.done",
                "rate_limits.updated",
                "output_audio_buffer.stopped",
            ]
            args_done = call.server_events_of("response.function_call_arguments.done")[0]
            assert args_done["name"] == "lookup"
            assert args_done["arguments"] == '{"order_id":"A1"}'
            assert re.fullmatch(r"call_[A-Za-z0-9]{16}", args_done["call_id"])
            output = call.server_events_of("response.done")[0]["response"]["output"]
            assert [o["type"] for o in output] == ["message", "function_call"]
            assert output[1]["status"] == "completed"
            assert output[1]["call_id"] == args_done["call_id"]
            assert output[1]["arguments"] == args_done["arguments"]
            added = call.server_events_of("response.output_item.added")[1]["item"]
            assert added["status"] == "in_progress" and added["arguments"] == ""
            assert call.warnings == []

            # the result goes back and is acknowledged; no response starts by itself
            await sb.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": args_done["call_id"],
                        "output": '{"eta": "3 days"}',
                    },
                }
            )
            ack = await call.wait_for_server_event("conversation.item.done", count=3)
            assert ack["item"]["type"] == "function_call_output"
            assert (
                call.server_events_of("conversation.item.added")[-1]["previous_item_id"]
                == (output[1]["id"])
            )
            assert len(call.server_events_of("response.created")) == 1

    run(main())


def test_undeclared_tool_is_a_warning(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            call.model.queue(ModelTurn(tool_calls=(ToolCall("nope"),)))
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.done")
            assert any("undeclared tool 'nope'" in w for w in call.warnings)

    run(main())


def test_function_call_output_for_unknown_call_id_is_an_error(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send(
                {
                    "type": "conversation.item.create",
                    "event_id": "c9",
                    "item": {"type": "function_call_output", "call_id": "call_x", "output": "1"},
                }
            )
            error = await call.wait_for_server_event("error")
            assert error["error"]["event_id"] == "c9"
            assert "call_x" in error["error"]["message"]
            assert call.server_events_of("conversation.item.added") == []

    run(main())


def test_auto_response_after_tool_output_fault(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            call.faults.auto_response_after_tool_output = True
            call.model.call_tool("t", call_id="call_fixed")
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.done")
            await sb.send(
                {
                    "type": "conversation.item.create",
                    "item": {"type": "function_call_output", "call_id": "call_fixed", "output": ""},
                }
            )
            await sb.send({"type": "response.create"})
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "conversation_already_has_active_response"
            assert len(call.server_events_of("response.created")) == 2

    run(main())


def test_second_response_create_while_active_is_refused(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            call.model.speak("A long answer that takes a while.", hold=True)
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.output_audio_transcript.delta")
            await sb.send({"type": "response.create", "event_id": "second"})
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "conversation_already_has_active_response"
            assert error["error"]["event_id"] == "second"
            # an out-of-band response may run alongside
            await sb.send({"type": "response.create", "response": {"conversation": "none"}})
            await call.wait_for_server_event("response.created", count=2)
            call.release()
            await call.wait_idle()
            statuses = [e["response"]["status"] for e in call.server_events_of("response.done")]
            assert statuses == ["completed", "completed"]

    run(main())


def test_barge_in_cancels_the_response(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            call.model.speak("Let me tell you about our opening hours in detail.", hold=True)
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.output_audio_transcript.delta")
            start = len(call.server_events)
            await call.say("Stop, I need billing.")
            types = since(call, start)
            assert types[0] == "input_audio_buffer.speech_started"
            cancel = types.index("response.done")
            assert types[cancel + 1 : cancel + 3] == [
                "rate_limits.updated",
                "output_audio_buffer.cleared",
            ]
            assert types.index("input_audio_buffer.speech_stopped") > cancel
            first = call.server_events_of("response.done")[0]["response"]
            assert first["status"] == "cancelled"
            assert first["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
            assert first["output"][0]["status"] == "incomplete"
            partial = call.server_events_of("response.output_audio_transcript.done")[0]
            assert partial["transcript"] == "Let me tell"
            # the caller's turn then gets its automatic answer
            second = await call.wait_for_server_event("response.done", count=2)
            assert second["response"]["status"] == "completed"

    run(main())


def test_barge_in_during_playback_clears_the_buffer(live):
    async def main():
        async with live(timing=Timing(min_playback_s=5)) as (_sim, call, sb, _r):
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.done")
            assert call.server_events_of("output_audio_buffer.stopped") == []
            await call.say("hello?")
            cleared = await call.wait_for_server_event("output_audio_buffer.cleared")
            first = call.server_events_of("response.done")[0]["response"]
            assert cleared["response_id"] == first["id"]

    run(main())


def test_response_cancel_and_cancel_with_nothing_active(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send({"type": "response.cancel", "event_id": "c1"})
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "response_cancel_not_active"
            call.model.speak("Hold on, this is long.", hold=True)
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.output_audio_transcript.delta")
            await sb.send({"type": "response.cancel"})
            await sb.send({"type": "output_audio_buffer.clear"})
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["status_details"]["reason"] == "client_cancelled"
            await call.wait_for_server_event("output_audio_buffer.cleared")
            await call.wait_idle()

    run(main())


def test_caller_speech_with_transcription_arrives_after_the_response_started(live):
    async def main():
        session = {
            "type": "realtime",
            "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}},
        }
        async with live(session) as (_sim, call, _sb, _r):
            await call.say("I'd like to book a table")
            await call.wait_idle()
            types = squash(call.server_event_types()[1:])
            assert types[:6] == [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
            ]
            completed = call.server_events_of(
                "conversation.item.input_audio_transcription.completed"
            )[0]
            assert types.index("conversation.item.input_audio_transcription.completed") > 5
            committed = call.server_events_of("input_audio_buffer.committed")[0]
            assert completed["item_id"] == committed["item_id"]
            assert completed["transcript"] == "I'd like to book a table"
            user_item = call.server_events_of("conversation.item.added")[0]["item"]
            assert user_item["role"] == "user" and user_item["id"] == committed["item_id"]
            started = call.server_events_of("input_audio_buffer.speech_started")[0]
            stopped = call.server_events_of("input_audio_buffer.speech_stopped")[0]
            assert stopped["audio_end_ms"] > started["audio_start_ms"]

    run(main())


def test_no_transcription_and_no_auto_response_when_disabled(live):
    async def main():
        session = {
            "type": "realtime",
            "audio": {
                "input": {"turn_detection": {"type": "server_vad", "create_response": False}}
            },
        }
        async with live(session) as (_sim, call, _sb, _r):
            await call.say("hello")
            types = call.server_event_types()
            assert "input_audio_buffer.committed" in types
            assert "response.created" not in types
            assert not any("transcription" in t for t in types)

    run(main())


def test_dtmf_event_has_the_documented_shape(live):
    async def main():
        async with live() as (_sim, call, _sb, received):
            await call.press("5")
            await call.press("#")
            event = await call.wait_for_server_event("input_audio_buffer.dtmf_event_received")
            assert set(event) == {"type", "event", "received_at"}
            assert event["event"] == "5" and isinstance(event["received_at"], int)
            await wait_for(lambda: len(received) == 3, 2, "three events", interval=0.002)
            assert [e.get("event") for e in received[1:]] == ["5", "#"]
            with pytest.raises(ValueError):
                await call.press("x")

    run(main())


def test_idle_timeout_only_when_configured(live):
    async def main():
        async with live() as (_sim, call, _sb, _r):
            assert await call.stay_silent() is False
            assert "input_audio_buffer.timeout_triggered" not in call.server_event_types()
        session = {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 6000}}},
        }
        async with live(session) as (_sim, call, _sb, _r):
            assert await call.stay_silent() is True
            event = await call.wait_for_server_event("input_audio_buffer.timeout_triggered")
            assert event["audio_end_ms"] - event["audio_start_ms"] == 6000
            assert event["item_id"].startswith("item_")
            done = await call.wait_for_server_event("response.output_audio_transcript.done")
            assert done["transcript"] == "Are you still there?"

    run(main())


def test_text_modality_uses_text_events_and_no_audio_buffer(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send(
                {
                    "type": "response.create",
                    "response": {"output_modalities": ["text"], "instructions": "Say exactly: ok"},
                }
            )
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["output"][0]["content"] == [
                {"type": "output_text", "text": "ok"}
            ]
            types = call.server_event_types()
            assert "response.output_text.done" in types
            assert not any(t.startswith("output_audio_buffer") for t in types)

    run(main())


def test_invalid_client_events_get_errors(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            await sb.send({"type": "response.make", "event_id": "e1"})
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "invalid_value"
            assert error["error"]["param"] == "type"
            await sb.send({"no_type": True})
            await call.wait_for_server_event("error", count=2)
            await sb.send({"type": "conversation.item.delete", "item_id": "item_nope"})
            third = await call.wait_for_server_event("error", count=3)
            assert third["error"]["code"] == "item_not_found"

    run(main())


def test_caller_hang_up_ends_the_call(live):
    async def main():
        async with live() as (sim, call, _sb, _r):
            await call.hang_up()
            assert call.ended and call.end_reason == "caller_hangup"
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{sim.base_url}/realtime/calls/{call.call_id}/hangup",
                    headers={"Authorization": f"Bearer {sim.api_key}"},
                )
            assert response.status_code == 404
            with pytest.raises(RuntimeError):
                await call.say("still there?")

    run(main())


def test_paced_timing_spreads_events_out(live):
    async def main():
        timing = Timing(delta_interval_s=0.01, playback_per_char_s=0.005)
        async with live(timing=timing) as (_sim, call, sb, _r):
            await sb.send(
                {
                    "type": "response.create",
                    "response": {"instructions": "Say exactly: " + "w " * 20},
                }
            )
            await call.wait_for_server_event("output_audio_buffer.stopped")
            created = next(r for r in call.server_events if r.type == "response.created")
            stopped = next(r for r in call.server_events if r.type == "output_audio_buffer.stopped")
            assert stopped.at - created.at >= 0.15

    run(main())

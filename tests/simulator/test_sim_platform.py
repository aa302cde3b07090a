"""The simulator's real-platform sideband behaviours (issue #9), each a named knob: audio
that plays on after response.done, responses without the client's metadata, errors for a
response.create, the server's own response after a tool output, a nudge created late, a
caller gone while the call rang, and a sideband that drops while the call stays up.

Every test also checks that the SDK's models parse each server event the simulator sent
(``server_event_violations``) and that the client events were valid (``violations``).
"""

import asyncio
import contextlib
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from engine.simulator import Faults, ModelTurn, Simulator, Timing

from helpers import run, wait_for

IDLE_SESSION = {
    "type": "realtime",
    "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 8000}}},
}
TOOL_SESSION = {"type": "realtime", "tools": [{"type": "function", "name": "lookup"}]}


def since(call, start):
    """Server event types from index ``start``, runs of one delta type collapsed."""
    out = []
    for kind in call.server_event_types()[start:]:
        if not (out and kind == out[-1] and kind.endswith(".delta")):
            out.append(kind)
    return out


def assert_well_formed(call):
    assert call.server_event_violations() == []
    assert call.violations == []


async def rest(sim, call_id, action, body=None):
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.post(
            f"{sim.base_url}/realtime/calls/{call_id}/{action}",
            headers={"Authorization": f"Bearer {sim.api_key}"},
            json=body,
            timeout=5,
        )


@contextlib.asynccontextmanager
async def raw_sideband(sim, call_id):
    """A plain WebSocket client on the sideband, to see handshakes and close codes as
    they are on the wire."""
    async with connect(
        f"ws://127.0.0.1:{sim.port}/v1/realtime?call_id={call_id}",
        additional_headers={"Authorization": f"Bearer {sim.api_key}"},
        open_timeout=2,
        close_timeout=1,
        ping_interval=None,
    ) as ws:
        yield ws


async def refused_handshake(sim, call_id):
    """The HTTP response that refused a sideband handshake (status, parsed body)."""
    with pytest.raises(InvalidStatus) as info:
        async with raw_sideband(sim, call_id):
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body)


async def next_event(ws, type_):
    """The next server event of this type on a raw sideband (others are skipped)."""
    while True:
        event = json.loads(await ws.recv())
        if event["type"] == type_:
            return event


async def accepted_call(sim):
    call = sim.new_call()
    assert (await rest(sim, call.call_id, "accept", {"type": "realtime"})).status_code == 200
    return call


def faults_of(where, sim, call):
    return call.faults if where == "call" else sim.faults


# -- 1. audio that plays on after response.done ---------------------------------------------
def test_audio_plays_on_after_response_done_then_stops(live):
    async def main():
        async with live(timing=Timing(min_playback_s=0.2)) as (_sim, call, sb, _r):
            start = len(call.server_events)
            await sb.send(
                {"type": "response.create", "response": {"instructions": "Say exactly: Hi."}}
            )
            done = await call.wait_for_server_event("response.done")
            rid = done["response"]["id"]
            # generation is over, but the caller is still hearing it
            assert call.playing == rid and not call.response_active
            assert call.server_events_of("output_audio_buffer.stopped") == []
            stopped = await call.wait_for_server_event("output_audio_buffer.stopped")
            assert stopped["response_id"] == rid
            assert call.playing is None
            assert call.played_out == [rid] and call.cleared == []
            types = since(call, start)
            assert types.index("output_audio_buffer.started") < types.index(
                "response.output_audio_transcript.delta"
            )
            assert types[-4:] == [
                "conversation.item.done",
                "response.done",
                "rate_limits.updated",
                "output_audio_buffer.stopped",
            ]
            started = call.server_events_of("output_audio_buffer.started")[0]
            assert started["response_id"] == rid
            # stopped comes only once the playback time has passed (a lower bound)
            at = {r.type: r.at for r in call.server_events}
            assert at["output_audio_buffer.stopped"] - at["response.done"] >= 0.2
            assert_well_formed(call)

    run(main())


def test_a_response_started_while_audio_plays_is_heard_after_it(live):
    async def main():
        async with live(timing=Timing(min_playback_s=0.5)) as (_sim, call, sb, _r):
            await sb.send(
                {"type": "response.create", "response": {"instructions": "Say exactly: A."}}
            )
            first = (await call.wait_for_server_event("response.done"))["response"]["id"]
            await sb.send(
                {"type": "response.create", "response": {"instructions": "Say exactly: B."}}
            )
            second = (await call.wait_for_server_event("response.done", count=2))["response"]["id"]
            # B's audio waits in the buffer behind A's
            assert call.playing == first
            assert call.played_out == []
            await call.wait_idle()
            assert call.played_out == [first, second] and call.cleared == []
            stops = [r for r in call.server_events if r.type == "output_audio_buffer.stopped"]
            assert [r.event["response_id"] for r in stops] == [first, second]
            assert stops[1].at - stops[0].at >= 0.5  # B plays for its own length after A
            assert_well_formed(call)

    run(main())


def test_clear_after_response_done_cuts_the_audio_and_it_never_stops(live):
    async def main():
        async with live(timing=Timing(min_playback_s=5)) as (_sim, call, sb, received):
            await sb.send({"type": "response.create"})
            done = await call.wait_for_server_event("response.done")
            rid = done["response"]["id"]
            assert call.playing == rid
            # nothing to cancel any more: an error, and the audio plays on
            await sb.send({"type": "response.cancel", "event_id": "cancel_1"})
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "response_cancel_not_active"
            assert error["error"]["event_id"] == "cancel_1"
            assert call.playing == rid
            start = len(call.server_events)
            await sb.send({"type": "output_audio_buffer.clear", "event_id": "clear_1"})
            cleared = await call.wait_for_server_event("output_audio_buffer.cleared")
            assert cleared["response_id"] == rid
            assert call.playing is None
            assert call.cleared == [rid] and call.played_out == []
            await call.wait_idle()
            assert call.server_event_types()[start:] == ["output_audio_buffer.cleared"]
            assert "output_audio_buffer.stopped" not in call.server_event_types()
            await wait_for(
                lambda: received[-1]["type"] == "output_audio_buffer.cleared",
                2,
                "the audio cleared",
                interval=0.002,
            )
            assert_well_formed(call)

    run(main())


def test_clear_while_the_response_still_generates_cuts_its_audio(live):
    async def main():
        async with live() as (_sim, call, sb, _r):
            call.model.speak("A long answer about the opening hours.", hold=True)
            await sb.send({"type": "response.create"})
            started = await call.wait_for_server_event("output_audio_buffer.started")
            rid = started["response_id"]
            assert call.playing == rid
            await sb.send({"type": "output_audio_buffer.clear"})
            cleared = await call.wait_for_server_event("output_audio_buffer.cleared")
            assert cleared["response_id"] == rid and call.playing is None
            # generation goes on (the client did not cancel); the caller hears no more
            assert call.response_active
            call.release()
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["status"] == "completed"
            await call.wait_idle()
            types = call.server_event_types()
            assert types.index("output_audio_buffer.cleared") < types.index("response.done")
            assert "output_audio_buffer.stopped" not in types
            assert types.count("output_audio_buffer.started") == 1
            assert call.cleared == [rid] and call.played_out == []
            assert_well_formed(call)

    run(main())


# -- 2. responses without the client's metadata ---------------------------------------------
@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (True, [None, None]),
        (1, [None, {"turn": "2"}]),
        (False, [{"turn": "1"}, {"turn": "2"}]),
    ],
)
@pytest.mark.parametrize("where", ["call", "sim"])
def test_untagged_responses_come_back_without_the_client_metadata(live, where, setting, expected):
    async def main():
        async with live() as (sim, call, sb, _r):
            faults = faults_of(where, sim, call)
            faults.untagged_responses = setting
            for n in (1, 2):
                await sb.send(
                    {"type": "response.create", "response": {"metadata": {"turn": str(n)}}}
                )
                await call.wait_for_server_event("response.done", count=n)
                await call.wait_idle()
            created = [e["response"]["metadata"] for e in call.server_events_of("response.created")]
            done = [e["response"]["metadata"] for e in call.server_events_of("response.done")]
            assert created == expected and done == expected
            if setting is not True and setting is not False:
                assert faults.untagged_responses == 0  # counted down
            assert_well_formed(call)

    run(main())


# -- 3. an error for one of our response.creates --------------------------------------------
@pytest.mark.parametrize(
    ("code", "error_type"),
    [(None, "server_error"), ("rate_limit_exceeded", "invalid_request_error")],
)
@pytest.mark.parametrize("where", ["call", "sim"])
def test_response_create_errors_answer_the_next_ones_and_start_nothing(
    live, where, code, error_type
):
    async def main():
        async with live() as (sim, call, sb, _r):
            faults = faults_of(where, sim, call)
            faults.response_create_errors = 2
            if code is not None:
                faults.response_create_error_code = code
            await sb.send({"type": "response.create", "event_id": "rc_1"})
            await sb.send({"type": "response.create"})  # no event_id to point back to
            await sb.send(
                {
                    "type": "response.create",
                    "event_id": "rc_3",
                    "response": {"metadata": {"a": "b"}},
                }
            )
            created = await call.wait_for_server_event("response.created")
            await call.wait_idle()
            errors = [e["error"] for e in call.server_events_of("error")]
            assert [e["event_id"] for e in errors] == ["rc_1", None]
            assert {e["code"] for e in errors} == {code or "server_error"}
            assert {e["type"] for e in errors} == {error_type}
            assert all(e["message"] for e in errors)
            types = call.server_event_types()
            assert types.index("response.created") > max(
                i for i, t in enumerate(types) if t == "error"
            )
            assert len(call.server_events_of("response.created")) == 1
            assert created["response"]["metadata"] == {"a": "b"}
            assert faults.response_create_errors == 0
            assert_well_formed(call)

    run(main())


# -- 4. the server's own response after a function output -----------------------------------
@pytest.mark.parametrize("where", ["call", "sim"])
def test_auto_response_after_tool_output_refuses_the_clients_response_create(live, where):
    async def main():
        async with live(TOOL_SESSION) as (sim, call, sb, _r):
            faults_of(where, sim, call).auto_response_after_tool_output = True
            call.model.call_tool("lookup", call_id="call_fixed")
            call.model.speak("Your order ships tomorrow.")
            await sb.send({"type": "response.create", "response": {"metadata": {"by": "us"}}})
            await call.wait_for_server_event("response.done")
            await call.wait_idle()
            start = len(call.server_events)
            await sb.send(
                {
                    "type": "conversation.item.create",
                    "event_id": "out_1",
                    "item": {
                        "type": "function_call_output",
                        "call_id": "call_fixed",
                        "output": "{}",
                    },
                }
            )
            await sb.send(
                {
                    "type": "response.create",
                    "event_id": "rc_2",
                    "response": {"metadata": {"by": "us"}},
                }
            )
            error = await call.wait_for_server_event("error")
            assert error["error"]["code"] == "conversation_already_has_active_response"
            assert error["error"]["event_id"] == "rc_2"
            types = call.server_event_types()[start:]
            assert types[:3] == [
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
            ]
            assert types.index("response.created") < types.index("error")
            auto = call.server_events_of("response.created")[1]["response"]
            assert auto["metadata"] is None
            assert auto["id"] in error["error"]["message"]
            done = await call.wait_for_server_event("response.done", count=2)
            assert done["response"]["id"] == auto["id"] and done["response"]["metadata"] is None
            said = done["response"]["output"][0]["content"][0]["transcript"]
            assert said == "Your order ships tomorrow."
            await call.wait_idle()
            assert len(call.server_events_of("response.created")) == 2
            assert_well_formed(call)

    run(main())


# -- 5. a nudge created some time after timeout_triggered -----------------------------------
def test_the_nudge_is_created_nudge_delay_s_after_the_timeout_and_can_be_cancelled(live):
    async def main():
        timing = Timing(nudge_delay_s=0.1)
        async with live(IDLE_SESSION, timing=timing) as (_sim, call, sb, _r):
            start = len(call.server_events)
            assert await call.stay_silent() is True
            assert call.nudge_pending
            assert "response.created" not in call.server_event_types()
            created = await call.wait_for_server_event("response.created")
            assert not call.nudge_pending
            assert call.server_event_types()[start : start + 5] == [
                "input_audio_buffer.timeout_triggered",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
            ]
            at = {r.type: r.at for r in call.server_events}
            assert at["response.created"] - at["input_audio_buffer.timeout_triggered"] >= 0.1
            assert created["response"]["metadata"] is None
            # the nudge is the active response: a response.cancel stops it
            await sb.send({"type": "response.cancel", "event_id": "cancel_nudge"})
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["id"] == created["response"]["id"]
            assert done["response"]["status_details"] == {
                "type": "cancelled",
                "reason": "client_cancelled",
            }
            await call.wait_idle()
            assert "error" not in call.server_event_types()
            assert_well_formed(call)

    run(main())


def test_wait_idle_waits_for_a_nudge_still_to_come(live):
    async def main():
        timing = Timing(nudge_delay_s=0.05, nudge_latency_s=0)
        async with live(IDLE_SESSION, timing=timing) as (_sim, call, _sb, _r):
            assert await call.stay_silent() is True
            assert await call.stay_silent() is False  # the first nudge is on its way
            await call.wait_idle()
            done = call.server_events_of("response.done")
            assert [d["response"]["status"] for d in done] == ["completed"]
            assert call.server_events_of("output_audio_buffer.stopped")
            assert_well_formed(call)

    run(main())


def test_no_nudge_when_the_client_started_a_response_during_the_delay(live):
    async def main():
        timing = Timing(nudge_delay_s=0.5)
        async with live(IDLE_SESSION, timing=timing) as (_sim, call, sb, _r):
            call.model.speak("Still with me? Let me help.", hold=True)
            assert await call.stay_silent() is True
            await sb.send({"type": "response.create", "response": {"metadata": {"by": "us"}}})
            await call.wait_for_server_event("response.created")
            await call.wait_until(lambda: not call.nudge_pending, what="the nudge's turn")
            call.release()
            await call.wait_idle()
            created = call.server_events_of("response.created")
            assert [c["response"]["metadata"] for c in created] == [{"by": "us"}]
            assert_well_formed(call)

    run(main())


# -- 6. a caller gone while the call rang ---------------------------------------------------
@pytest.mark.parametrize("where", ["call", "sim"])
def test_caller_gone_on_accept_404_refuses_the_sideband_and_the_call_is_over(where):
    async def main():
        async with Simulator() as sim:
            call = sim.new_call()
            faults_of(where, sim, call).caller_gone_on_accept = "404"
            assert (
                await rest(sim, call.call_id, "accept", {"type": "realtime"})
            ).status_code == 200
            assert call.state == "accepted"  # nothing shows until the sideband
            status, body = await refused_handshake(sim, call.call_id)
            assert status == 404
            assert body["error"]["code"] == "call_id_not_found"
            assert body["error"]["type"] == "invalid_request_error"
            assert await call.wait_ended() == "caller_hangup"
            assert call.ended and call.state == "ended"
            hangup = await rest(sim, call.call_id, "hangup")
            assert hangup.status_code == 404
            assert hangup.json()["error"]["code"] == "call_id_not_found"
            assert call.server_events == [] and call.sideband_handshakes == []

    run(main())


def test_caller_gone_on_accept_close_drops_the_socket_after_the_handshake():
    async def main():
        async with Simulator() as sim:
            call = sim.new_call()
            call.faults.caller_gone_on_accept = "close"
            assert (
                await rest(sim, call.call_id, "accept", {"type": "realtime"})
            ).status_code == 200
            async with raw_sideband(sim, call.call_id) as ws:
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd is None  # no close frame
                assert ws.close_code == 1006
            assert await call.wait_ended() == "caller_hangup"
            assert call.server_events == [] and len(call.sideband_handshakes) == 1
            status, body = await refused_handshake(sim, call.call_id)
            assert status == 404 and body["error"]["code"] == "call_id_not_found"
            assert (await rest(sim, call.call_id, "hangup")).status_code == 404

    run(main())


def test_caller_gone_on_accept_refuses_a_mode_it_does_not_know():
    faults = Faults()
    with pytest.raises(ValueError, match="caller_gone_on_accept"):
        faults.caller_gone_on_accept = "hangup"
    assert faults.caller_gone_on_accept is None
    with pytest.raises(ValueError):
        Faults(caller_gone_on_accept=404)


# -- 7. the sideband drops while the call stays up, and a new one carries on ----------------
@pytest.mark.parametrize(("code", "seen"), [(None, 1006), (1011, 1011), (1001, 1001)])
def test_a_dropped_sideband_reconnects_and_the_call_carries_on(code, seen):
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim)
            async with raw_sideband(sim, call.call_id) as ws:
                await next_event(ws, "session.created")
                await ws.send(
                    json.dumps(
                        {
                            "type": "response.create",
                            "response": {"instructions": "Say exactly: One."},
                        }
                    )
                )
                first = await next_event(ws, "response.done")
                await call.wait_idle()
                call.drop_sideband(code)
                with pytest.raises(ConnectionClosed) as info:
                    while True:
                        await ws.recv()
                assert (info.value.rcvd.code if info.value.rcvd else 1006) == seen
            await call.wait_until(lambda: not call.connected, what="sideband gone")
            assert call.state == "accepted" and not call.ended
            await call.press("5")  # while no sideband is attached: reaches nobody
            async with raw_sideband(sim, call.call_id) as ws:
                hello = json.loads(await ws.recv())
                assert hello["type"] == "session.created"  # not the key press
                assert call.connected and len(call.sideband_handshakes) == 2
                # the conversation is the same call's
                item_id = first["response"]["output"][0]["id"]
                await ws.send(
                    json.dumps({"type": "conversation.item.retrieve", "item_id": item_id})
                )
                retrieved = await next_event(ws, "conversation.item.retrieved")
                assert retrieved["item"]["content"][0]["transcript"] == "One."
                await ws.send(
                    json.dumps(
                        {
                            "type": "response.create",
                            "response": {"instructions": "Say exactly: Two."},
                        }
                    )
                )
                added = await next_event(ws, "conversation.item.added")
                assert added["previous_item_id"] == item_id
                done = await next_event(ws, "response.output_audio_transcript.done")
                assert done["transcript"] == "Two."
                await next_event(ws, "output_audio_buffer.stopped")
            assert not call.ended
            assert_well_formed(call)

    run(main())


@pytest.mark.parametrize(("times", "refused"), [(2, 2), (None, 3), (0, 0)])
def test_sideband_status_refuses_that_many_handshakes(times, refused):
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim)
            call.faults.sideband_status = 503
            call.faults.sideband_status_times = times
            for _ in range(refused):
                status, body = await refused_handshake(sim, call.call_id)
                assert status == 503 and body["error"]["type"] == "server_error"
            if times is None:
                assert call.faults.sideband_status_times is None
                return
            async with raw_sideband(sim, call.call_id) as ws:
                assert (await next_event(ws, "session.created"))["type"] == "session.created"
            assert call.faults.sideband_status_times == 0
            assert len(call.sideband_handshakes) == 1 and not call.ended

    run(main())


# -- 8. whether the call is still up at OpenAI ---------------------------------------------
def test_an_ended_call_refuses_sideband_and_hangup_with_404():
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim)
            sim.faults.sideband_status = 500  # an ended call is a 404 before any fault
            assert not call.ended and call.state == "accepted"
            assert (await rest(sim, call.call_id, "hangup")).status_code == 200
            assert await call.wait_ended() == "hangup"
            assert call.ended and call.state == "ended" and call.end_reason == "hangup"
            second = await rest(sim, call.call_id, "hangup")
            assert second.status_code == 404
            assert second.json()["error"]["code"] == "call_id_not_found"
            status, body = await refused_handshake(sim, call.call_id)
            assert status == 404 and body["error"]["code"] == "call_id_not_found"

    run(main())


def test_a_caller_hang_up_is_seen_by_wait_ended_while_the_sideband_is_open(live):
    async def main():
        async with live() as (sim, call, sb, _r):
            call.model.queue(ModelTurn(text="Hello there, caller.", hold=True))
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("output_audio_buffer.started")
            assert call.playing is not None and not call.ended
            ended = asyncio.create_task(call.wait_ended())
            await call.hang_up()
            assert await ended == "caller_hangup"
            assert call.playing is None and not call.response_active
            assert (await rest(sim, call.call_id, "hangup")).status_code == 404

    run(main())


def test_barge_in_clears_an_earlier_response_still_playing_while_a_new_one_is_silent(live):
    async def main():
        async with live(timing=Timing(min_playback_s=5)) as (_sim, call, sb, _r):
            await sb.send({"type": "response.create"})
            first = (await call.wait_for_server_event("response.done"))["response"]["id"]
            assert call.playing == first
            # a second response that has not spoken (text only, held)
            call.model.speak("Thinking it over.", hold=True)
            await sb.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            await call.wait_for_server_event("response.output_text.delta")
            assert call.playing == first and call.response_active
            await call.say("Wait, one more thing.")
            cleared = await call.wait_for_server_event("output_audio_buffer.cleared")
            assert cleared["response_id"] == first
            assert call.cleared == [first] and call.played_out == []
            second = call.server_events_of("response.done")[1]["response"]
            assert second["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
            assert "output_audio_buffer.stopped" not in call.server_event_types()
            assert_well_formed(call)

    run(main())

"""The simulator sends a function call's ``response.output_item.done`` before its
``response.done``, and can hold ``response.done`` back (the model speaking on after the
call): ``ModelTurn(hold_done=True)`` until ``call.release()``, ``Timing.response_done_delay_s``
for a while."""

from engine.simulator import ModelTurn, Timing, ToolCall

from helpers import run

TOOLS = {"type": "realtime", "tools": [{"type": "function", "name": "lookup"}]}


def function_call_done(event: dict) -> bool:
    return event["item"]["type"] == "function_call"


def test_a_held_response_sends_its_call_item_and_takes_the_output_before_it_is_done(live):
    async def main():
        async with live(TOOLS) as (_sim, call, sb, _r):
            tool = ToolCall("lookup", {"id": "A1"}, call_id="call_held")
            call.model.queue(ModelTurn(text="Let me check.", tool_calls=(tool,), hold_done=True))
            await sb.send({"type": "response.create"})
            item = await call.wait_for_server_event(
                "response.output_item.done", where=function_call_done
            )
            assert item["item"]["status"] == "completed"
            # The client answers the call while the model still "speaks": taken, no error.
            output = {"type": "function_call_output", "call_id": "call_held", "output": "{}"}
            await sb.send({"type": "conversation.item.create", "item": output})
            ack = await call.wait_for_server_event(
                "conversation.item.done", where=lambda e: e["item"]["type"] == output["type"]
            )
            assert ack["item"]["call_id"] == "call_held"
            assert call.server_events_of("response.done") == [] and call.response_active
            assert call.server_events_of("error") == []
            call.release()
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["status"] == "completed"
            assert [o["type"] for o in done["response"]["output"]] == ["message", "function_call"]
            assert len(call.server_events_of("response.created")) == 1  # none by itself

    run(main())


def test_each_hold_of_a_turn_takes_its_own_release(live):
    async def main():
        async with live(TOOLS) as (_sim, call, sb, _r):
            call.model.queue(
                ModelTurn(
                    text="One moment while I look.",
                    tool_calls=(ToolCall("lookup"),),
                    hold=True,
                    hold_done=True,
                )
            )
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.output_audio_transcript.delta")
            call.release()  # the first hold: the rest of the line, then the call item
            await call.wait_for_server_event("response.output_item.done", where=function_call_done)
            assert call.server_events_of("response.done") == []
            call.release()  # the second: response.done
            await call.wait_for_server_event("response.done")

    run(main())


def test_a_caller_speaking_while_response_done_is_held_back_cancels_it(live):
    async def main():
        # response.done would come a minute after the call item: the caller speaks first.
        timing = Timing(response_done_delay_s=60)
        async with live(TOOLS, timing=timing) as (_sim, call, sb, _r):
            call.model.call_tool("lookup", {"id": "A1"}, call_id="call_cut")
            await sb.send({"type": "response.create"})
            await call.wait_for_server_event("response.output_item.done", where=function_call_done)
            await call.say("Actually, never mind.")
            done = await call.wait_for_server_event("response.done")
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"]["reason"] == "turn_detected"
            # the call item was complete before the cut: it stays in the output as it was
            (item,) = done["response"]["output"]
            assert item["call_id"] == "call_cut" and item["status"] == "completed"

    run(main())

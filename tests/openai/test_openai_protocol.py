"""The adapter's reading of function calls: a tool call is a completed ``function_call`` item
(``response.output_item.done``), the event the engine starts the tool on (issue #14)."""

from engine.call.events import ResponseFinished, ToolCallRequested
from engine.openai.protocol import server_event

ARGS = '{"order_id":"A1"}'


def item_done(status: str, kind: str = "function_call") -> dict:
    item = {"id": "item_1", "type": kind, "status": status, "object": "realtime.item"}
    if kind == "function_call":
        item.update(name="lookup_order", call_id="call_1", arguments=ARGS)
    return {
        "type": "response.output_item.done",
        "response_id": "resp_1",
        "output_index": 1,
        "item": item,
    }


def test_a_completed_function_call_item_is_a_tool_call():
    expected = ToolCallRequested("resp_1", "call_1", "lookup_order", ARGS)
    assert server_event(item_done("completed")) == expected


def test_a_cut_item_a_message_item_and_the_arguments_event_are_not():
    assert server_event(item_done("incomplete")) is None  # cut while the model wrote it
    assert server_event(item_done("completed", kind="message")) is None
    # Sent for interrupted and cancelled responses too (reference §4.2): never acted on.
    arguments_done = {
        "type": "response.function_call_arguments.done",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 1,
        "call_id": "call_1",
        "name": "lookup_order",
        "arguments": ARGS,
    }
    assert server_event(arguments_done) is None


def test_response_done_reports_how_the_response_ended():
    for status in ("completed", "cancelled", "failed", "incomplete"):
        event = {"type": "response.done", "response": {"id": "resp_1", "status": status}}
        assert server_event(event) == ResponseFinished("resp_1", status)

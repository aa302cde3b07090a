"""A live call over the sideband: greeting, tools, transfer, hangup, failures."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.simulator import ModelTurn, Timing, ToolCall

from harness import orders_flow
from helpers import tool_outputs

SLOW_AUDIO = {"timing": Timing(playback_per_char_s=0.004, min_playback_s=0.1)}
ACTIVE = "conversation_already_has_active_response"


def _after(call, type_: str, n: int) -> list[str]:
    """Client event types after the ``n``-th event of ``type_``."""
    types = call.client_event_types()
    seen = 0
    for i, t in enumerate(types):
        if t == type_:
            seen += 1
            if seen == n:
                return types[i + 1 :]
    return []


@pytest.fixture
def errors():
    records: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Catch(level=logging.ERROR)
    logger = logging.getLogger("engine")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_greeting_is_the_first_client_event(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            call = await h.answered()
            first = call.client_events[0].event
            assert first["type"] == "response.create"
            assert first["response"]["instructions"] == (
                "Say exactly: Thanks for calling Acme. How can I help?"
            )
            assert call.server_events_of("response.output_audio_transcript.done")[0][
                "transcript"
            ] == ("Thanks for calling Acme. How can I help?")

    asyncio.run(main())


def test_goto_updates_session_then_outputs_then_one_response(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            call = await h.answered()
            call.model.call_tool("tech_help", {})
            await call.say("My gadget is broken")
            await call.wait_for_client_event("response.create", count=2)
            await call.wait_idle()
            assert _after(call, "response.create", 1) == [
                "session.update",
                "conversation.item.create",
                "response.create",
            ]
            session = call.client_events_of("session.update")[0]["session"]
            assert session["type"] == "realtime"
            assert "Help with the product" in session["instructions"]
            names = [t["name"] for t in session["tools"]]
            assert names == ["to_billing", "to_engineer", "request_callback", "goodbye"]
            assert tool_outputs(call) == [{"ok": True}]
            assert not any(e["error"].get("code") == ACTIVE for e in call.server_events_of("error"))
            assert call.violations == [] and not call.ended

    asyncio.run(main())


def test_a_tool_call_of_a_response_cut_at_its_token_limit_runs(rt):
    # A response that ends `incomplete` (max_output_tokens) after its function call was
    # complete: the call is whole and was the model's choice, so the tool runs.
    async def main():
        async with rt(repo_flows=True) as h:
            call = await h.answered()
            tool = ToolCall("tech_help", {})
            call.model.queue(ModelTurn(text="Let me see.", tool_calls=(tool,), status="incomplete"))
            await call.say("My gadget is broken")
            await call.wait_for_client_event("response.create", count=2)
            await call.wait_idle()
            (done,) = [
                e
                for e in call.server_events_of("response.done")
                if e["response"]["output"][-1:]
                and e["response"]["output"][-1]["type"] == "function_call"
            ]
            assert done["response"]["status"] == "incomplete"
            assert tool_outputs(call) == [{"ok": True}]
            assert (
                "Help with the product"
                in call.client_events_of("session.update")[0]["session"]["instructions"]
            )

    asyncio.run(main())


def test_transfer_waits_until_the_line_is_heard(rt):
    async def main():
        async with rt(repo_flows=True, simulator=SLOW_AUDIO) as h:
            call = await h.answered()
            call.model.call_tool("to_billing", {})
            await call.say("Billing please")
            refer = await call.wait_for_request("refer", timeout=3)
            assert refer.body == {"target_uri": "sip:+15551230000@sip.acme.example"}
            line = next(
                e
                for e in call.server_events_of("response.output_audio_transcript.done")
                if "connect you to billing" in e["transcript"]
            )
            stopped = [
                r
                for r in call.server_events
                if r.type == "output_audio_buffer.stopped"
                and r.event.get("response_id") == line["response_id"]
            ]
            assert stopped, "the transfer line never finished playing"
            assert refer.at >= stopped[0].at
            done = next(
                r
                for r in call.server_events
                if r.type == "response.done" and r.event["response"]["id"] == line["response_id"]
            )
            assert stopped[0].at > done.at  # the simulator plays audio after response.done
            assert await call.wait_ended(timeout=3) == "transferred"

    asyncio.run(main())


def test_hangup_after_goodbye_heard(rt):
    async def main():
        async with rt(repo_flows=True, simulator=SLOW_AUDIO) as h:
            call = await h.answered()
            call.model.call_tool("goodbye", {})
            await call.say("That's all, thanks")
            hangup = await call.wait_for_request("hangup", timeout=3)
            line = next(
                e
                for e in call.server_events_of("response.output_audio_transcript.done")
                if "Goodbye!" in e["transcript"]
            )
            stopped = next(
                r
                for r in call.server_events
                if r.type == "output_audio_buffer.stopped"
                and r.event.get("response_id") == line["response_id"]
            )
            assert hangup.at >= stopped.at
            assert await call.wait_ended() == "hangup"
            await h.wait_calls_over()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("no_such_tool", {}, "unknown_tool"),
        ("lookup_order", '{"order_id": "A1"', "invalid_arguments"),
        ("lookup_order", "[1, 2]", "invalid_arguments"),
        ("lookup_order", {}, "missing_arguments"),
    ],
)
def test_bad_tool_call_tells_the_model_and_goes_on(rt, name, arguments, error):
    async def main():
        async with rt(repo_flows=True) as h:
            call = await h.answered()
            call.model.call_tool(name, arguments)
            await call.say("Hello?")
            await call.wait_for_client_event("response.create", count=2)
            await call.wait_idle()
            (output,) = tool_outputs(call)
            assert output["ok"] is False and output["error"] == error
            assert _after(call, "response.create", 1) == [
                "conversation.item.create",
                "response.create",
            ]
            assert not call.ended and call.requests_for("hangup") == []
            assert len(h.engine.calls) == 1

    asyncio.run(main())


async def order(request: Request) -> Response:
    """The order service the http tool tests call."""
    order_id = request.path_params["order_id"]
    if order_id == "SLOW":
        await asyncio.sleep(5)
    if order_id == "BOOM":
        return JSONResponse({"detail": "kaput"}, status_code=500)
    return JSONResponse({"order_id": order_id, "status": "shipped-on-tuesday"})


ORDERS = Starlette(routes=[Route("/orders/{order_id}", order)])


@pytest.mark.parametrize(
    ("order_id", "ok", "expect"),
    [("A1", True, "shipped-on-tuesday"), ("SLOW", False, None), ("BOOM", False, None)],
)
def test_http_tool(rt, serve, order_id, ok, expect):
    async def main():
        async with serve(ORDERS) as base, rt(flows={"o.yaml": orders_flow(base)}) as h:
            call = await h.answered("+18005550002")
            call.model.call_tool("lookup_order", {"order_id": order_id})
            await call.say("Where is my order?")
            await call.wait_for_client_event("response.create", count=2, timeout=4)
            (output,) = tool_outputs(call)
            assert output["ok"] is ok, output
            text = json.dumps(output)
            if expect:
                assert expect in text
            else:
                assert output.get("message")
            await call.wait_idle()
            assert not call.ended and len(h.engine.calls) == 1

    asyncio.run(main())


def test_caller_hangs_up_mid_call(rt, errors):
    async def main():
        async with rt(repo_flows=True) as h:
            call = await h.answered()
            assert len(h.engine.calls) == 1
            await call.hang_up()
            await h.wait_calls_over()
            record = await h.record(call.call_id)
            assert record.ended_how == "caller_hung_up" and record.ended_at is not None
            assert [r.getMessage() for r in errors] == []

    asyncio.run(main())


def test_no_second_response_create_while_one_is_active(rt):
    async def main():
        # (When the server answers a tool output by itself, see test_platform.py.)
        async with rt(repo_flows=True) as h:
            call = await h.answered()
            call.model.call_tool("tech_help", {})
            await call.say("My gadget is broken")
            await call.wait_for_client_event("response.create", count=2)
            await call.wait_idle()
            refused = [e for e in call.server_events_of("error") if e["error"]["code"] == ACTIVE]
            assert refused == []
            assert len(call.client_events_of("response.create")) == 2
            assert not call.ended

    asyncio.run(main())

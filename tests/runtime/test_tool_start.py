"""A tool starts when its function call item is complete, not when the response that called
it is done (issue #14): through the engine and the simulator on loopback.

The simulated model holds ``response.done`` back after the call item
(``ModelTurn(hold_done=True)``) until the test releases it, so what the engine did before
the response ended is read off the simulator's and the service's records, not the clock.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.simulator import ModelTurn, ToolCall

NUMBER = "+18005550003"


class OrderService:
    """An order service that records when each request arrived; ``hold()`` keeps its
    answers back until ``answer()``."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []  # (loop time, order id)
        self.arrived = asyncio.Event()
        self._go = asyncio.Event()
        self._go.set()
        self.app = Starlette(routes=[Route("/orders/{order_id}", self._order)])

    def hold(self) -> None:
        self._go.clear()

    def answer(self) -> None:
        self._go.set()

    async def _order(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        self.arrivals.append((asyncio.get_running_loop().time(), order_id))
        self.arrived.set()
        await self._go.wait()
        return JSONResponse({"order_id": order_id, "status": "shipped"})


def flow(base: str) -> str:
    return f"""\
name: Early
numbers: ["{NUMBER}"]
instructions: Orders agent.
greeting: Orders line.
start: main
states:
  main:
    tools: [lookup_order, go_next, goodbye]
  next:
    instructions: Next state.
    tools: [lookup_order, goodbye]
tools:
  lookup_order:
    description: Look up an order.
    parameters:
      order_id: {{type: string, description: the order}}
    http:
      url: "{base}/orders/{{{{ args.order_id }}}}"
      timeout: 5
  go_next:
    description: Move on.
    goto: next
  goodbye:
    description: End the call.
    say: Goodbye!
    hangup: true
"""


def held_turn(*calls: ToolCall) -> ModelTurn:
    """The model says it will check, calls, and speaks on until the test releases it."""
    return ModelTurn(text="Let me check that for you.", tool_calls=calls, hold_done=True)


def output_of(call_id: str):
    return lambda e: e["item"].get("call_id") == call_id


def recorded(events, type_: str, where=lambda e: True):
    """The simulator's records of one kind (when each was sent or received)."""
    return [r for r in events if r.type == type_ and where(r.event)]


def test_the_service_is_asked_and_answered_before_the_response_that_called_it_is_done(rt, serve):
    async def main():
        service = OrderService()
        async with serve(service.app) as base, rt(flows={"o.yaml": flow(base)}) as h:
            call = await h.answered(NUMBER)
            lookup = ToolCall("lookup_order", {"order_id": "A1"}, call_id="call_lookup")
            call.model.queue(held_turn(lookup))
            await call.say("Where is my order?")
            await asyncio.wait_for(service.arrived.wait(), 3)
            output = await call.wait_for_client_event(
                "conversation.item.create", where=output_of("call_lookup")
            )
            assert "shipped" in output["item"]["output"]
            # All of that while the response that called the tool is still running: its
            # response.done has not been sent, and no reply was asked for yet.
            item = call.server_events_of("response.output_item.done")[-1]
            rid = item["response_id"]
            assert item["item"]["call_id"] == "call_lookup" and call.response_active
            assert not [
                e for e in call.server_events_of("response.done") if e["response"]["id"] == rid
            ]
            assert len(call.client_events_of("response.create")) == 1  # the greeting's

            call.release()
            await call.wait_for_client_event("response.create", count=2)
            # In the simulator's records: item done → service asked → output → response.done
            # → the reply's response.create.
            (item_at,) = [
                r.at
                for r in recorded(call.server_events, "response.output_item.done")
                if r.event["item"].get("call_id") == "call_lookup"
            ]
            (done_at,) = [
                r.at
                for r in recorded(call.server_events, "response.done")
                if r.event["response"]["id"] == rid
            ]
            (output_at,) = [
                r.at
                for r in recorded(call.client_events, "conversation.item.create")
                if r.event["item"].get("call_id") == "call_lookup"
            ]
            reply_at = recorded(call.client_events, "response.create")[1].at
            ((asked_at, _),) = service.arrivals
            assert item_at <= asked_at <= output_at < done_at <= reply_at

    asyncio.run(main())


def test_two_calls_of_one_response_run_in_order_before_it_is_done_and_get_one_reply(rt, serve):
    async def main():
        service = OrderService()
        async with serve(service.app) as base, rt(flows={"o.yaml": flow(base)}) as h:
            call = await h.answered(NUMBER)
            call.model.queue(
                held_turn(
                    ToolCall("go_next", {}, call_id="call_go"),
                    ToolCall("lookup_order", {"order_id": "B2"}, call_id="call_b2"),
                )
            )
            await call.say("Move on and find order B2.")
            await call.wait_for_client_event("conversation.item.create", where=output_of("call_b2"))
            # The goto went out on its item, before the second call, which ran in the new
            # state; both outputs before the response is done.
            kinds = [
                e["type"] if e["type"] != "conversation.item.create" else e["item"]["call_id"]
                for e in (r.event for r in call.client_events)
            ]
            after_greeting = kinds[kinds.index("response.create") + 1 :]
            assert after_greeting == ["session.update", "call_go", "call_b2"]
            assert (
                "Next state."
                in call.client_events_of("session.update")[-1]["session"]["instructions"]
            )
            assert call.response_active and [o for _, o in service.arrivals] == ["B2"]
            call.release()
            await call.wait_for_client_event("response.create", count=2)
            await call.wait_idle()
            assert len(call.client_events_of("response.create")) == 2  # one reply for both

    asyncio.run(main())


def test_a_cut_response_keeps_its_request_and_goto_and_gets_no_reply(rt, serve):
    async def main():
        service = OrderService()
        async with serve(service.app) as base, rt(flows={"o.yaml": flow(base)}) as h:
            call = await h.answered(NUMBER)
            service.hold()
            call.model.queue(
                held_turn(
                    ToolCall("lookup_order", {"order_id": "C3"}, call_id="call_c3"),
                    ToolCall("go_next", {}, call_id="call_go"),
                )
            )
            await call.say("Where is order C3?")
            await asyncio.wait_for(service.arrived.wait(), 3)
            await call.wait_for_client_event("conversation.item.create", where=output_of("call_go"))
            # The caller speaks over the rest of the response: the server cancels it and
            # answers the caller's turn itself.
            call.model.speak("Sure, what else?")
            await call.say("Actually, one more thing.")
            cut = await call.wait_for_server_event("response.done", count=2)
            assert cut["response"]["status"] == "cancelled"
            await call.wait_for_server_event("response.done", count=3)  # the server's answer
            # The request already made is answered and its output goes back...
            service.answer()
            await call.wait_for_client_event("conversation.item.create", where=output_of("call_c3"))
            # ...but no reply is asked for it. A later tool turn shows the engine has
            # moved past it: the only response.create after the greeting is that turn's.
            call.model.call_tool("goodbye", {}, call_id="call_bye")
            await call.say("Bye then.")
            await call.wait_for_client_event(
                "conversation.item.create", where=output_of("call_bye")
            )
            await call.wait_for_request("hangup", timeout=4)
            creates = call.client_events_of("response.create")
            assert [e["response"].get("instructions") for e in creates][1:] == [
                "Say exactly: Goodbye!"
            ]
            # and the state change the cut response made stood: goodbye was offered there
            assert (
                "Next state."
                in call.client_events_of("session.update")[-1]["session"]["instructions"]
            )

    asyncio.run(main())


def test_a_hangup_whose_response_the_caller_cuts_short_is_not_made(rt, serve):
    async def main():
        service = OrderService()
        async with serve(service.app) as base, rt(flows={"o.yaml": flow(base)}) as h:
            call = await h.answered(NUMBER)
            call.model.queue(held_turn(ToolCall("goodbye", {}, call_id="call_bye")))
            await call.say("That's all.")
            await call.wait_for_client_event(
                "conversation.item.create", where=output_of("call_bye")
            )
            call.model.speak("Of course, go ahead.")
            await call.say("Wait, one more question!")
            # The model is told the call was not ended; the goodbye line is never asked.
            note = await call.wait_for_client_event(
                "conversation.item.create", where=lambda e: e["item"]["type"] == "message"
            )
            assert "the call was not ended" in note["item"]["content"][0]["text"]
            # A later tool turn shows the engine moved on without hanging up.
            call.model.call_tool("go_next", {}, call_id="call_go")
            await call.say("Can we move on?")
            await call.wait_for_client_event("response.create", count=2)
            await call.wait_idle()
            assert call.requests_for("hangup") == [] and not call.ended
            creates = call.client_events_of("response.create")
            assert all("Goodbye" not in str(e) for e in creates)

    asyncio.run(main())

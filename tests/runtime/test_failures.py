"""Failures of OpenAI's side that must still leave the caller told something."""

from __future__ import annotations

import asyncio

from engine.flow.model import Lines
from engine.openai.rest import RetryBudget
from engine.simulator import RestFault


def test_a_refer_that_fails_is_told_to_the_caller_and_the_call_goes_on(rt):
    async def main() -> None:
        # A short retry budget for refer: a 500 is retried until it runs out.
        quick = {"refer": RetryBudget(0.3, first_pause_s=0.05)}
        async with rt(repo_flows=True, rest_budgets=quick) as h:
            call = await h.answered("+18005551212")
            call.faults.refer = RestFault(status=500)
            call.model.call_tool("to_billing", {})
            await call.say("Billing, please.")
            await call.wait_for_request("refer", timeout=5)
            apology = await call.wait_for_client_event(
                "response.create",
                where=lambda e: "couldn't transfer" in e["response"].get("instructions", ""),
                timeout=5,
            )
            assert Lines().transfer_failed in apology["response"]["instructions"]
            assert not call.ended  # the caller is still on the line, and can go on
            await call.wait_idle()
            call.model.call_tool("goodbye", {})
            await call.say("Never mind, goodbye.")
            await call.wait_for_request("hangup", timeout=5)

    asyncio.run(main())


def test_a_session_openai_refuses_rejects_the_call_instead_of_leaving_it_ringing(rt):
    async def main() -> None:
        async with rt(repo_flows=True) as h:
            h.sim.faults.accept = RestFault(status=400, message="Invalid model")
            placed = await h.place("+18005551212")
            assert placed.status == 200
            assert [r.action for r in placed.call.requests] == ["accept", "reject"]
            assert placed.call.reject_status == 480

    asyncio.run(main())


BROKEN_FOR_SOME = """\
name: Members line
numbers: ["+18005550111"]
instructions: "Greet member {{ call.sip_headers['X-Member-Id'] }} by their id."
greeting: "Hello {{ call.sip_headers['X-Member-Name'] }}!"
tools:
  goodbye:
    description: End the call.
    say: Goodbye!
    hangup: true
"""


def test_a_flow_whose_instructions_fail_for_this_caller_is_refused_politely(rt):
    async def main() -> None:
        async with rt(flows={"members.yaml": BROKEN_FOR_SOME}) as h:
            # This caller's INVITE has no X-Member-Id: the instructions cannot be rendered.
            placed = await h.place("+18005550111")
            assert placed.status == 200
            assert [r.action for r in placed.call.requests] == ["reject"]
            assert placed.call.reject_status == 480

    asyncio.run(main())


def test_a_greeting_that_fails_for_this_caller_is_dropped_and_the_model_greets(rt):
    async def main() -> None:
        async with rt(flows={"members.yaml": BROKEN_FOR_SOME}) as h:
            placed = await h.place("+18005550111", extra_headers={"X-Member-Id": "M-42"})
            assert placed.status == 200
            call = placed.call
            assert "M-42" in call.accept_body["instructions"]
            greeting = await call.wait_for_client_event("response.create")
            # No X-Member-Name: no scripted line, the model greets from its instructions.
            assert "instructions" not in greeting["response"]

    asyncio.run(main())

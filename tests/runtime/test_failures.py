"""Failures of OpenAI's side that must still leave the caller told something."""

from __future__ import annotations

import asyncio

from engine.call.machine import TRANSFER_FAILED_LINE
from engine.simulator import RestFault


def test_a_refer_that_fails_is_told_to_the_caller_and_the_call_goes_on(rt):
    async def main() -> None:
        async with rt(repo_flows=True) as h:
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
            assert TRANSFER_FAILED_LINE in apology["response"]["instructions"]
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

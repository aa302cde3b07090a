"""What the engine sends, checked against the official `openai` SDK's types.

The simulator in strict mode validates every accept body and every client event against the
SDK's TypedDicts (`CallAcceptParams`, `RealtimeClientEventParam`) with unknown keys forbidden,
and records violations. One call that uses every kind of event the engine sends must record
none: the day a user points the engine at OpenAI, the shapes are the real ones.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("openai", reason="the contract test needs the openai SDK (test extra)")


def test_every_event_the_engine_sends_matches_the_sdk_types(rt):
    async def main() -> None:
        async with rt(repo_flows=True, simulator={"strict": True}) as h:
            call = await h.answered("+18005551212")
            # goto: session.update + function_call_output + response.create
            call.model.call_tool("tech_help", {})
            await call.say("My widget is broken.")
            await call.wait_for_client_event("session.update")
            await call.wait_for_client_event("response.create", count=2)
            await call.wait_idle()
            # transfer: function_call_output, the transfer line, then REFER over REST
            call.model.call_tool("to_billing", {})
            await call.say("Actually, it is about my bill.")
            await call.wait_for_request("refer", timeout=5)
            await call.wait_ended(timeout=5)

            sent = call.client_event_types()
            assert {"response.create", "session.update", "conversation.item.create"} <= set(sent)
            assert call.accept_body is not None
            assert h.sim.strict
            assert h.sim.violations() == []

    asyncio.run(main())


def test_the_contract_check_itself_catches_a_wrong_shape(rt):
    """Guard against a contract test that cannot fail: a beta-style event is a violation."""

    async def main() -> None:
        async with rt(repo_flows=True, simulator={"strict": True}) as h:
            problems = h.sim.strict_client_event(
                {"type": "session.update", "session": {"voice": "marin", "modalities": ["audio"]}}
            )
            assert problems

    asyncio.run(main())

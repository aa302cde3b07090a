"""Hostile model output: function-call arguments built to break the engine's parser. The tool
call fails cleanly, the model is told, and the call goes on (and can still hang up)."""

from __future__ import annotations

import asyncio

from helpers import tool_outputs

NUMBER = "+18005550173"
FLOW = f"""\
name: Deep
numbers: ["{NUMBER}"]
instructions: Help the caller.
greeting: Deep line.
tools:
  lookup:
    description: Look something up.
    parameters:
      q: {{type: string, description: What to look up}}
    say: Looking that up.
  goodbye:
    description: End the call.
    say: Goodbye!
    hangup: true
"""
DEPTH = 100_000


def test_arguments_nested_100000_deep_fail_the_tool_not_the_call(rt):
    # 200 kB of brackets: the simulator streams them in 16-character deltas, as OpenAI does.
    arguments = "[" * DEPTH + "]" * DEPTH

    async def main() -> None:
        async with rt(flows={"d.yaml": FLOW}) as h:
            call = await h.answered(NUMBER)
            call.model.call_tool("lookup", arguments)
            await call.say("Look this up")
            await call.wait_for_client_event("response.create", count=2, timeout=20)
            (output,) = tool_outputs(call)
            assert (output["ok"], output["error"]) == (False, "invalid_arguments")
            assert not call.ended and len(h.engine.calls) == 1
            # The call is still steered: the model can end it the usual way.
            call.model.call_tool("goodbye", {})
            await call.say("Never mind, bye")
            await call.wait_for_request("hangup", timeout=5)
            assert await call.wait_ended(timeout=5) == "hangup"

    asyncio.run(main())

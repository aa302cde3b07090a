"""Strict mode: the adapter's traffic checked against the official SDK's types."""

import httpx
import pytest

from engine.openai import CallControl, open_sideband
from engine.simulator import Simulator

from helpers import run

pytest.importorskip("openai", minversion="3.52")

SESSION = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "You are the receptionist for Example Dental. Be brief.",
    "audio": {
        "input": {
            "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
            "turn_detection": {
                "type": "server_vad",
                "silence_duration_ms": 500,
                "idle_timeout_ms": 8000,
            },
        },
        "output": {"voice": "marin"},
    },
    "tools": [
        {
            "type": "function",
            "name": "transfer_to_human",
            "description": "Transfer the caller to staff.",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string"}},
                "required": ["reason"],
            },
        }
    ],
    "tool_choice": "auto",
}


def test_reference_traffic_has_no_violations():
    async def main():
        async with Simulator(strict=True) as sim, httpx.AsyncClient() as http:
            assert sim.strict
            call = sim.new_call()
            await CallControl(http, sim.config()).accept(call.call_id, SESSION)
            call.model.call_tool("transfer_to_human", {"reason": "billing"})
            async with open_sideband(sim.config(), call.call_id) as sb:
                await sb.send(
                    {"type": "response.create", "response": {"instructions": "Say hello."}}
                )
                done = await call.wait_for_server_event("response.function_call_arguments.done")
                await call.wait_for_server_event("response.done")
                await sb.send(
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "function_call_output",
                            "call_id": done["call_id"],
                            "output": '{"ok": true}',
                        },
                    }
                )
                await sb.send({"type": "response.create"})
                await sb.send(
                    {"type": "session.update", "session": {"type": "realtime", "tools": []}}
                )
                await sb.send({"type": "response.cancel"})
                await sb.send({"type": "output_audio_buffer.clear"})
                await call.wait_for_client_event("output_audio_buffer.clear")
            assert call.violations == []
            assert sim.violations() == []

    run(main())


def test_beta_shaped_and_malformed_events_are_violations():
    async def main():
        async with Simulator(strict=True) as sim, httpx.AsyncClient() as http:
            call = sim.new_call()
            await CallControl(http, sim.config()).accept(call.call_id, {"type": "realtime"})
            async with open_sideband(sim.config(), call.call_id) as sb:
                await sb.send(
                    {"type": "session.update", "session": {"type": "realtime", "voice": "alloy"}}
                )
                await sb.send({"type": "response.create", "response": {"modalities": ["audio"]}})
                await sb.send(
                    {
                        "type": "conversation.item.create",
                        "item": {"type": "function_call_output", "call_id": "c", "output": {}},
                    }
                )
                await sb.send({"type": "response.make"})
                await call.wait_for_client_event("response.make")
            found = "\n".join(call.violations)
            assert "session.RealtimeSessionCreateRequestParam.voice" in found
            assert "response.modalities: Extra inputs are not permitted" in found
            assert "output: Input should be a valid string" in found
            assert "'response.make' is not in the SDK's RealtimeClientEvent union" in found

    run(main())


def test_accept_body_is_checked_against_call_accept_params():
    async def main():
        async with Simulator(strict=True) as sim, httpx.AsyncClient() as http:
            call = sim.new_call()
            body = {"type": "realtime", "audio": {"output": {"voice": "marin", "speed": "fast"}}}
            await CallControl(http, sim.config()).accept(call.call_id, body)
            assert any("audio.output.speed" in v for v in call.violations)

    run(main())


def test_strict_off_records_nothing():
    async def main():
        async with Simulator(strict=False) as sim, httpx.AsyncClient() as http:
            call = sim.new_call()
            await CallControl(http, sim.config()).accept(call.call_id, {"type": "realtime"})
            async with open_sideband(sim.config(), call.call_id) as sb:
                await sb.send({"type": "response.make"})
                await call.wait_for_client_event("response.make")
            assert not sim.strict and call.violations == []

    run(main())

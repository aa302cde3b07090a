"""The sideband adapter against the simulator's WebSocket over loopback."""

import asyncio

import httpx
import pytest

from engine.openai import CallControl, CallNotFound, OpenAIConfig, SidebandError, open_sideband
from engine.simulator import Simulator

from helpers import run


async def accepted_call(sim, session=None):
    call = sim.new_call()
    async with httpx.AsyncClient() as client:
        await CallControl(client, sim.config()).accept(
            call.call_id, session or {"type": "realtime"}
        )
    return call


async def collect(sideband):
    return [event async for event in sideband]


def test_receives_session_created_and_sends_events():
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim, {"type": "realtime", "instructions": "Hi."})
            async with open_sideband(sim.config(), call.call_id) as sideband:
                events = aiter(sideband)
                first = await anext(events)
                assert first["type"] == "session.created"
                assert first["session"]["instructions"] == "Hi."
                assert await sideband.send({"type": "response.create"}) is True
                await call.wait_for_client_event("response.create")
                assert (await anext(events))["type"] == "response.created"
            handshake = call.sideband_handshakes[0]
            assert handshake["authorization"] == "<redacted>"
            assert "openai-beta" not in handshake
            assert call.warnings == []

    run(main())


def test_abnormal_closure_ends_iteration_quietly():
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim)
            async with open_sideband(sim.config(), call.call_id) as sideband:
                reader = asyncio.create_task(collect(sideband))
                await call.wait_for_server_event("session.created")
                await call.hang_up()  # TCP dropped, no close frame
                events = await reader
                assert [e["type"] for e in events] == ["session.created"]
                assert sideband.closed
                assert sideband.close_code == 1006
                # sending after close is dropped and reported, not raised
                assert await sideband.send({"type": "response.create"}) is False

    run(main())


def test_rest_hangup_drops_the_socket():
    async def main():
        async with Simulator() as sim, httpx.AsyncClient() as client:
            call = await accepted_call(sim)
            async with open_sideband(sim.config(), call.call_id) as sideband:
                reader = asyncio.create_task(collect(sideband))
                await call.wait_connected()
                await CallControl(client, sim.config()).hangup(call.call_id)
                await reader
                assert sideband.close_code == 1006

    run(main())


def test_clean_close_ends_iteration_too():
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim)
            async with open_sideband(sim.config(), call.call_id) as sideband:
                reader = asyncio.create_task(collect(sideband))
                await call.wait_for_server_event("session.created")
                call.close_sideband(1000, "bye")
                await reader
                assert sideband.close_code == 1000

    run(main())


def test_frames_that_are_not_json_objects_are_skipped():
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim)
            async with open_sideband(sim.config(), call.call_id) as sideband:
                events = aiter(sideband)
                await anext(events)  # session.created
                call.emit_text("not json")
                call.emit_text("[1, 2]")
                call.emit({"type": "custom.event", "n": 1})
                assert await anext(events) == {"type": "custom.event", "n": 1}

    run(main())


@pytest.mark.parametrize("state", ["unknown", "pending", "ended"])
def test_handshake_404_raises_call_not_found(state):
    async def main():
        async with Simulator() as sim:
            if state == "unknown":
                call_id = "rtc_nope"
            elif state == "pending":
                call_id = sim.new_call().call_id
            else:
                call = await accepted_call(sim)
                await call.hang_up()
                call_id = call.call_id
            with pytest.raises(CallNotFound):
                async with open_sideband(sim.config(), call_id):
                    pass

    run(main())


def test_wrong_key_is_a_sideband_error_without_the_key():
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim)
            bad = OpenAIConfig("sk-wrong-0000000000", sim.webhook_secret, sim.base_url)
            with pytest.raises(SidebandError) as info:
                async with open_sideband(bad, call.call_id):
                    pass
            assert info.value.status == 401
            assert "sk-wrong" not in str(info.value)

    run(main())


def test_refused_connection_is_a_sideband_error():
    async def main():
        async with Simulator() as sim:
            config = sim.config()
        with pytest.raises(SidebandError):
            async with open_sideband(config, "rtc_1", open_timeout_s=1):
                pass

    run(main())


def test_exiting_the_context_closes_the_socket():
    async def main():
        async with Simulator() as sim:
            call = await accepted_call(sim)
            async with open_sideband(sim.config(), call.call_id) as sideband:
                await call.wait_connected()
            assert sideband.closed
            await call.wait_until(lambda: not call.connected, what="socket closed")
            assert call.state == "accepted"  # closing our socket does not end the call

    run(main())

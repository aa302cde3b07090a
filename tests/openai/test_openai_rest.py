"""CallControl against the simulator over real loopback sockets."""

import asyncio
import time

import httpx
import pytest

from engine.openai import (
    CallControl,
    CallControlError,
    CallControlTimeout,
    CallNotFound,
    OpenAIConfig,
)
from engine.simulator import RestFault, Simulator

SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def with_control(test, *, timeout_s=2.0, **sim_kwargs):
    async with Simulator(**sim_kwargs) as sim, httpx.AsyncClient() as client:
        await test(sim, CallControl(client, sim.config(), timeout_s=timeout_s))


def test_accept_posts_the_session_with_bearer_auth():
    async def test(sim, control):
        call = sim.new_call()
        await control.accept(call.call_id, SESSION)
        request = call.requests_for("accept")[0]
        assert request.method == "POST"
        assert request.path == f"/v1/realtime/calls/{call.call_id}/accept"
        assert request.body == SESSION
        assert request.headers["content-type"] == "application/json"
        assert request.status == 200
        assert call.state == "accepted"
        assert call.session["instructions"] == "Be brief."

    run(with_control(test))


def test_reject_refer_hangup_bodies_match_the_reference():
    async def test(sim, control):
        busy, declined, live = sim.new_call(), sim.new_call(), sim.new_call()
        await control.reject(busy.call_id, 486)
        await control.reject(declined.call_id)
        assert busy.requests_for("reject")[0].body == {"status_code": 486}
        assert declined.requests_for("reject")[0].body == {}
        assert (busy.reject_status, declined.reject_status) == (486, 603)
        assert busy.end_reason == "rejected"

        await control.accept(live.call_id, SESSION)
        await control.refer(live.call_id, "tel:+14155550123")
        assert live.requests_for("refer")[0].body == {"target_uri": "tel:+14155550123"}
        assert await live.wait_ended() == "transferred"

        other = sim.new_call()
        await control.accept(other.call_id, SESSION)
        await control.hangup(other.call_id)
        hangup = other.requests_for("hangup")[0]
        assert hangup.raw_body == b""
        assert hangup.body is None
        assert await other.wait_ended() == "hangup"

    run(with_control(test))


def test_reject_validates_status_before_sending():
    async def test(sim, control):
        call = sim.new_call()
        with pytest.raises(ValueError):
            await control.reject(call.call_id, 200)
        with pytest.raises(TypeError):
            await control.reject(call.call_id, True)
        with pytest.raises(ValueError):
            await control.refer(call.call_id, " ")
        assert sim.requests == []

    run(with_control(test))


def test_unknown_and_finished_calls_raise_call_not_found():
    async def test(sim, control):
        with pytest.raises(CallNotFound) as info:
            await control.accept("rtc_does_not_exist", SESSION)
        assert info.value.status == 404
        assert info.value.code == "call_id_not_found"
        call = sim.new_call()
        await control.accept(call.call_id, SESSION)
        await control.hangup(call.call_id)
        for attempt in (control.hangup(call.call_id), control.refer(call.call_id, "tel:+1")):
            with pytest.raises(CallNotFound):
                await attempt

    run(with_control(test))


def test_caller_gone_before_accept_is_call_not_found():
    async def test(sim, control):
        call = sim.new_call(ring_timeout_s=0.01)
        await call.wait_ended()
        with pytest.raises(CallNotFound):
            await control.accept(call.call_id, SESSION)
        assert call.end_reason == "not_answered"

    run(with_control(test))


def test_server_error_carries_status_and_openai_message():
    async def test(sim, control):
        call = sim.new_call()
        call.faults.accept = RestFault(status=500, message="boom")
        with pytest.raises(CallControlError) as info:
            await control.accept(call.call_id, SESSION)
        assert not isinstance(info.value, CallNotFound)
        assert info.value.status == 500
        assert info.value.message == "boom"
        assert info.value.action == "accept"
        assert call.state == "pending"

    run(with_control(test))


def test_fault_404_on_accept_maps_to_call_not_found():
    async def test(sim, control):
        sim.faults.accept = RestFault(status=404)
        call = sim.new_call()
        with pytest.raises(CallNotFound):
            await control.accept(call.call_id, SESSION)

    run(with_control(test))


def test_refer_500_once_then_success():
    async def test(sim, control):
        call = sim.new_call()
        await control.accept(call.call_id, SESSION)
        call.faults.refer = RestFault(status=500, times=1)
        with pytest.raises(CallControlError) as info:
            await control.refer(call.call_id, "sip:agent@example.com")
        assert info.value.status == 500
        await control.refer(call.call_id, "sip:agent@example.com")
        assert [r.status for r in call.requests_for("refer")] == [500, 200]

    run(with_control(test))


def test_hanging_accept_times_out_at_the_deadline():
    async def test(sim, control):
        call = sim.new_call()
        call.faults.accept = RestFault(hang_s=5)
        started = time.monotonic()
        with pytest.raises(CallControlTimeout) as info:
            await control.accept(call.call_id, SESSION)
        elapsed = time.monotonic() - started
        assert 0.2 <= elapsed < 4.5  # the fault hangs 5 s: the client's deadline ended it
        assert info.value.status is None
        assert info.value.timeout_s == 0.3

    run(with_control(test, timeout_s=0.3))


def test_wrong_api_key_is_an_error_without_the_key_in_it():
    async def test(sim, control):
        call = sim.new_call()
        bad = OpenAIConfig(
            api_key="sk-wrong-key-1234567890", webhook_secret=sim.webhook_secret,
            base_url=sim.base_url,
        )  # fmt: skip
        async with httpx.AsyncClient() as client:
            with pytest.raises(CallControlError) as info:
                await CallControl(client, bad).accept(call.call_id, SESSION)
        assert info.value.status == 401
        assert info.value.code == "invalid_api_key"
        assert "sk-wrong-key-1234567890" not in str(info.value)
        assert call.state == "pending"

    run(with_control(test))


def test_call_id_is_path_escaped():
    async def test(sim, control):
        call = sim.new_call(call_id="rtc_odd/../id with space")
        await control.accept(call.call_id, SESSION)
        assert call.state == "accepted"
        assert call.requests[0].path == "/v1/realtime/calls/rtc_odd%2F..%2Fid%20with%20space/accept"

    run(with_control(test))


def test_connection_refused_is_a_call_control_error():
    async def main():
        async with Simulator() as sim:
            config = sim.config()
        async with httpx.AsyncClient() as client:
            with pytest.raises(CallControlError) as info:
                await CallControl(client, config).hangup("rtc_1")
        assert info.value.status is None
        assert "network error" in info.value.message

    run(main())


def test_one_pooled_connection_serves_many_requests():
    async def test(sim, control):
        calls = [sim.new_call() for _ in range(5)]
        for call in calls:
            await control.accept(call.call_id, SESSION)
        assert sim.connections_accepted == 1

    run(with_control(test))

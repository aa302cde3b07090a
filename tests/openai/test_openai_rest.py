"""CallControl against the simulator over real loopback sockets."""

import asyncio
import random

import httpx
import pytest

from engine.bounded_http import SHARD_SIZE, Shards
from engine.openai import (
    CallControl,
    CallControlError,
    CallControlTimeout,
    CallNotFound,
    OpenAIConfig,
)
from engine.openai.rest import DEFAULT_BUDGETS, MIN_ATTEMPT_S, RetryBudget
from engine.simulator import RestFault, Simulator, Timing

from helpers import refused_port, run, run_virtual, wait_for

SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}


# Short budgets, so a test of giving up does not wait the production budgets out.
SHORT = {action: RetryBudget(0.5, first_pause_s=0.02) for action in ("accept", "reject", "refer", "hangup")}  # fmt: skip


async def with_control(test, *, timeout_s=2.0, budgets=None, control=None, **sim_kwargs):
    async with Simulator(**sim_kwargs) as sim, httpx.AsyncClient() as client:
        options = {"budgets": budgets, **(control or {})}
        await test(sim, CallControl(client, sim.config(), timeout_s=timeout_s, **options))


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
        await control.hangup(call.call_id)  # gone already: what hangup wanted, no error
        assert [r.status for r in call.requests_for("hangup")] == [200, 404]
        with pytest.raises(CallNotFound):
            await control.refer(call.call_id, "tel:+1")

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
        assert info.value.uncertain  # a 5xx may come after the action was done
        assert call.state == "pending"
        assert len(call.requests_for("accept")) >= 2  # retried within its budget

    # Long enough for a second attempt on a loaded machine; every attempt is answered at once.
    patient = {"accept": RetryBudget(1.5, first_pause_s=0.02, max_pause_s=0.1)}
    run(with_control(test, budgets=patient))


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
        # A 500 is OpenAI saying the REFER was not handed on (§10 #6): sent again.
        await control.refer(call.call_id, "sip:agent@example.com")
        assert [r.status for r in call.requests_for("refer")] == [500, 200]
        assert call.warnings == []

    run(with_control(test))


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_an_accept_answered_a_passing_refusal_is_sent_again(status):
    # Busy, conflicting or failing for now: the call still rings, so accept tries again.
    async def test(sim, control):
        call = sim.new_call()
        call.faults.accept = RestFault(status=status, times=1)
        await control.accept(call.call_id, SESSION)
        assert [r.status for r in call.requests_for("accept")] == [status, 200]
        assert call.state == "accepted"

    run(with_control(test))


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_an_accept_refused_for_good_is_not_sent_again(status):
    async def test(sim, control):
        call = sim.new_call()
        call.faults.accept = RestFault(status=status, times=1)
        with pytest.raises(CallControlError) as info:
            await control.accept(call.call_id, SESSION)
        assert info.value.status == status
        assert [r.status for r in call.requests_for("accept")] == [status]

    run(with_control(test))


def _always(status):
    """A call-control API (in memory) that answers every request ``status``, and the loop
    times at which the requests came."""
    sent = []

    def answer(request):
        sent.append(asyncio.get_running_loop().time())
        return httpx.Response(status, json={"error": {"message": "busy", "type": "server_error"}})

    return httpx.MockTransport(answer), sent


IN_MEMORY = OpenAIConfig(api_key="sk-test", webhook_secret="whsec_x", base_url="http://127.0.0.1:9/v1")  # fmt: skip
ACTIONS = {
    "accept": lambda control: control.accept("rtc_1", SESSION),
    "refer": lambda control: control.refer("rtc_1", "tel:+15551230000"),
    "hangup": lambda control: control.hangup("rtc_1"),
}


@pytest.mark.parametrize("action", ["accept", "refer", "hangup"])
def test_a_failing_action_keeps_trying_for_its_default_budget(action):
    # The caller hears ringing while accept retries, or waits on hold for a refer: these
    # budgets are what the caller is made to wait (DEFAULT_BUDGETS says why: 30 s each).
    budget = DEFAULT_BUDGETS[action]
    transport, sent = _always(503)

    async def main():
        async with httpx.AsyncClient(transport=transport) as client:
            control = CallControl(client, IN_MEMORY, rng=random.Random(1))
            with pytest.raises(CallControlError) as info:
                await ACTIONS[action](control)
            return info.value, asyncio.get_running_loop().time()

    error, gave_up = run_virtual(main())  # the clock is the loop's: 30 s take no time
    assert (error.status, error.action) == (503, action)
    # It stops when the next pause and the least worth trying no longer fit in the budget.
    assert 30 - budget.max_pause_s - MIN_ATTEMPT_S <= gave_up <= 30
    assert sent[0] == 0 and sent[-1] <= gave_up
    assert len(sent) > 10


def test_hanging_accept_times_out_at_the_deadline():
    async def test(sim, control):
        call = sim.new_call()
        call.faults.accept = RestFault(hang_s=5)  # longer than the budget: no answer comes
        with pytest.raises(CallControlTimeout) as info:
            await control.accept(call.call_id, SESSION)
        assert info.value.status is None
        assert 0 < info.value.timeout_s <= 0.3  # the last attempt had what was left
        assert info.value.uncertain

    run(with_control(test, timeout_s=0.3, budgets=SHORT))


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
        with refused_port() as port:  # held for the test: nothing else can listen on it
            config = OpenAIConfig("sk-test", "whsec_x", f"http://127.0.0.1:{port}/v1")
            async with httpx.AsyncClient() as client:
                with pytest.raises(CallControlError) as info:
                    await CallControl(client, config, budgets=SHORT).hangup("rtc_1")
        assert info.value.status is None
        assert "network error" in info.value.message
        assert "ConnectError" in info.value.message
        assert not info.value.uncertain  # nothing could have been sent

    run(main())


def test_one_pooled_connection_serves_many_requests():
    async def test(sim, control):
        calls = [sim.new_call() for _ in range(5)]
        for call in calls:
            await control.accept(call.call_id, SESSION)
        assert sim.connections_accepted == 1

    run(with_control(test))


# -- idempotent call control -----------------------------------------------------------


def test_an_accept_that_took_effect_after_its_timeout_counts_as_done():
    async def test(sim, control):
        call = sim.new_call()
        call.faults.accept = RestFault(hang_s=5, took_effect=True, times=1)
        await control.accept(call.call_id, SESSION)  # no error: the call is accepted
        assert call.state == "accepted"
        retry = call.requests_for("accept")[1]
        assert retry.status == 400  # "Call is not ringing (state: accepted)."
        assert len(call.requests_for("accept")) == 2

    run(with_control(test, timeout_s=0.3))


def test_accepting_an_accepted_call_again_is_done_not_an_error():
    async def test(sim, control):
        call = sim.new_call()
        await control.accept(call.call_id, SESSION)
        await control.accept(call.call_id, SESSION)
        assert [r.status for r in call.requests_for("accept")] == [200, 400]

    run(with_control(test))


def test_a_refer_without_an_answer_is_never_sent_twice():
    async def test(sim, control):
        for took_effect in (True, False):
            call = sim.new_call()
            await control.accept(call.call_id, SESSION)
            call.faults.refer = RestFault(hang_s=1, took_effect=took_effect, times=1)
            await control.refer(call.call_id, "tel:+18005550100")  # treated as sent
            assert await call.wait_ended(timeout=3) == "transferred"
            assert call.refer_targets == ["tel:+18005550100"]
            assert len(call.requests_for("refer")) == 1
            assert [w for w in call.warnings if "still rings" in w] == []

    run(with_control(test, timeout_s=0.2))


def test_hangup_is_retried_until_the_call_is_gone():
    async def test(sim, control):
        call = sim.new_call()
        await control.accept(call.call_id, SESSION)
        call.faults.hangup = RestFault(status=500, times=3)
        await control.hangup(call.call_id)
        assert [r.status for r in call.requests_for("hangup")] == [500, 500, 500, 200]
        assert await call.wait_ended() == "hangup"

        other = sim.new_call()
        await control.accept(other.call_id, SESSION)
        other.faults.hangup = RestFault(hang_s=5, took_effect=True, times=1)
        await control.hangup(other.call_id)  # timed out, but it happened: the retry's 404
        assert other.requests_for("hangup")[1].status == 404
        assert other.end_reason == "hangup"

    run(with_control(test, timeout_s=0.3))


def test_a_hangup_that_never_succeeds_gives_up_at_its_budget():
    async def test(sim, control):
        call = sim.new_call()
        await control.accept(call.call_id, SESSION)
        call.faults.hangup = RestFault(status=503)
        with pytest.raises(CallControlError) as info:
            await control.hangup(call.call_id)
        assert info.value.status == 503
        assert len(call.requests_for("hangup")) >= 2
        assert call.state == "accepted"

    run(with_control(test, budgets=SHORT))


def test_a_burst_queues_for_slots_instead_of_failing():
    async def test(sim, control):
        calls = [sim.new_call() for _ in range(40)]
        await asyncio.gather(*(control.accept(c.call_id, SESSION) for c in calls))
        assert all(c.state == "accepted" for c in calls)
        assert all(len(c.requests) == 1 for c in calls)  # no retries: they waited their turn
        assert sim.connections_accepted <= 3  # never more in flight than the slots

    run(
        with_control(
            test,
            timeout_s=2.0,
            control={"max_in_flight": 3},
            timing=Timing(rest_latency_per_inflight_s=0.005),
        )
    )


def test_cancelled_requests_leave_the_pool_empty_and_usable():
    """Cancel a burst mid-flight while every slot is busy (encode/httpcore#1093 wedged the
    pool for good in exactly this case): afterwards no connection is stuck connecting,
    httpcore holds no request, and new requests go through."""

    async def main():
        async with Simulator() as sim:
            limits = httpx.Limits(max_connections=4)
            async with httpx.AsyncClient(limits=limits) as client:
                control = CallControl(client, sim.config(), timeout_s=0.2, max_in_flight=4,
                                      budgets=SHORT)  # fmt: skip
                sim.faults.accept = RestFault(hang_s=0.3)
                calls = [sim.new_call() for _ in range(30)]
                tasks = [asyncio.create_task(control.accept(c.call_id, SESSION)) for c in calls]
                await wait_for(lambda: len(sim.requests) >= 4, 5, "every slot busy")
                for task in tasks[::2]:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                # The requests nobody waits for any more finish on their own (httpx's
                # timeouts), and only then free their slots.
                await wait_for(lambda: control.in_flight == 0, 5, "the slots to be free")
                assert control.http.pool_requests() == 0
                stuck = [c for c in control.http.pool_connections()
                         if not (c.is_idle() or c.is_closed())]  # fmt: skip
                assert stuck == []
                sim.faults.accept = None
                fresh = [sim.new_call() for _ in range(8)]
                await asyncio.gather(*(control.accept(c.call_id, SESSION) for c in fresh))
                assert all(c.state == "accepted" for c in fresh)

    run(main())


def test_health_follows_outcomes_and_probes():
    async def main():
        async with Simulator() as sim, httpx.AsyncClient() as client:
            control = CallControl(client, sim.config(), budgets=SHORT)
            assert control.health.reachable  # unknown counts as reachable
            assert await control.probe()
            config = sim.config()
        async with httpx.AsyncClient() as client:
            control = CallControl(client, config, budgets=SHORT)
            results = [await control.probe(timeout_s=0.2) for _ in range(3)]
            assert results == [True, True, False]  # three in a row without an answer
            assert control.health.last_problem

    run(main())


def test_a_burst_of_accepts_does_not_hold_up_a_transfer():
    async def test(sim, control):
        live = sim.new_call()
        await control.accept(live.call_id, SESSION)
        sim.faults.accept = RestFault(hang_s=0.3)  # every new accept is slow
        ringing = [sim.new_call() for _ in range(20)]
        accepts = [asyncio.create_task(control.accept(c.call_id, SESSION)) for c in ringing]
        await ringing[0].wait_for_request("accept")
        # 20 accepts on 3 slots queue for about two seconds; the refer has a slot of its own.
        await control.refer(live.call_id, "tel:+18005550100")
        assert control.http.waiting > 0  # accepts were still queued when the refer was done
        assert await live.wait_ended() == "transferred"
        await asyncio.gather(*accepts)
        assert all(c.state == "accepted" for c in ringing)

    run(with_control(test, control={"max_in_flight": 4}))


def test_connections_are_spread_over_small_shards():
    async def main():
        async with Simulator() as sim:
            shards = Shards.create(40)
            assert len(shards.clients) == 3  # at most SHARD_SIZE connections each
            control = CallControl(shards, sim.config(), max_in_flight=40)
            try:
                sim.faults.accept = RestFault(hang_s=0.1)
                calls = [sim.new_call() for _ in range(30)]
                await asyncio.gather(*(control.accept(c.call_id, SESSION) for c in calls))
                assert all(c.state == "accepted" for c in calls)
                per_client = [len(client._transport._pool.connections) for client in shards.clients]
                assert all(0 < n <= SHARD_SIZE for n in per_client), per_client
            finally:
                await control.aclose()

    run(main())

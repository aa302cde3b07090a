"""The simulator's REST call control, spoken to with plain httpx."""

import asyncio

import httpx
import pytest

from engine.simulator import RestFault, Simulator, Timing

from helpers import outlast_a_transfer, run


async def with_sim(test, **kwargs):
    async with Simulator(**kwargs) as sim, httpx.AsyncClient(trust_env=False) as http:
        await test(sim, http)


def auth(sim):
    return {"Authorization": f"Bearer {sim.api_key}"}


def assert_openai_error(response, status):
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({"model": "gpt-realtime"}, "Missing required parameter: 'type'.", "type"),
        ({"type": "transcription"}, "Invalid value: 'transcription'.", "type"),
        ({"type": "realtime", "voice": "marin"}, "Unknown parameter: 'voice'.", "voice"),
        (
            {"type": "realtime", "audio": {"input": {"format": None}}},
            "Invalid type for 'audio.input.format': expected an object, but got null",
            "audio.input.format",
        ),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad",
             "idle_timeout_ms": 100}}}},
            "idle_timeout_ms",
            "audio.input.turn_detection.idle_timeout_ms",
        ),
    ],
)  # fmt: skip
def test_accept_rejects_obvious_mistakes_like_the_real_api(body, message, param):
    async def test(sim, http):
        call = sim.new_call()
        url = f"{sim.base_url}/realtime/calls/{call.call_id}/accept"
        response = await http.post(url, json=body, headers=auth(sim))
        error = assert_openai_error(response, 400)
        assert message in error["message"]
        assert error["param"] == param
        assert error["type"] == "invalid_request_error"
        assert call.state == "pending"

    run(with_sim(test))


def test_accept_records_a_warning_when_audio_format_is_forced():
    async def test(sim, http):
        call = sim.new_call()
        body = {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm"}}}}
        response = await http.post(
            f"{sim.base_url}/realtime/calls/{call.call_id}/accept", json=body, headers=auth(sim)
        )
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["x-request-id"].startswith("req_")
        assert any("audio.output.format" in w for w in call.warnings)

    run(with_sim(test))


def test_accept_twice_and_unparsable_body_are_400():
    async def test(sim, http):
        call = sim.new_call()
        url = f"{sim.base_url}/realtime/calls/{call.call_id}/accept"
        bad = await http.post(url, content=b"{nope", headers=auth(sim))
        assert "could not parse the JSON body" in assert_openai_error(bad, 400)["message"]
        assert (await http.post(url, json={"type": "realtime"}, headers=auth(sim))).is_success
        again = await http.post(url, json={"type": "realtime"}, headers=auth(sim))
        assert (
            assert_openai_error(again, 400)["message"] == "Call is not ringing (state: accepted)."
        )
        assert [r.status for r in call.requests] == [400, 200, 400]

    run(with_sim(test))


def test_auth_errors_have_the_openai_shape_and_redact_the_key():
    async def test(sim, http):
        call = sim.new_call()
        url = f"{sim.base_url}/realtime/calls/{call.call_id}/hangup"
        missing = await http.post(url)
        assert "didn't provide an API key" in assert_openai_error(missing, 401)["message"]
        wrong = await http.post(url, headers={"Authorization": "Bearer sk-wrong-abcdefgh1234"})
        error = assert_openai_error(wrong, 401)
        assert error["code"] == "invalid_api_key"
        assert "sk-wrong-abcdefgh1234" not in error["message"]
        assert "1234" in error["message"]
        assert call.state == "pending"

    run(with_sim(test))


def test_unknown_routes_are_invalid_url():
    async def test(sim, http):
        response = await http.get(f"{sim.base_url}/realtime/calls/rtc_1/accept", headers=auth(sim))
        assert (
            "Invalid URL (GET /v1/realtime/calls/rtc_1/accept)"
            in (assert_openai_error(response, 404)["message"])
        )
        other = await http.post(f"{sim.base_url}/models", headers=auth(sim))
        assert_openai_error(other, 404)

    run(with_sim(test))


def test_unknown_call_is_404_call_id_not_found():
    async def test(sim, http):
        response = await http.post(
            f"{sim.base_url}/realtime/calls/rtc_missing/hangup", headers=auth(sim)
        )
        assert assert_openai_error(response, 404)["code"] == "call_id_not_found"
        assert sim.requests[0].call_id == "rtc_missing"
        assert sim.requests[0].status == 404

    run(with_sim(test))


def test_refer_ends_the_call_shortly_after_unless_it_vanishes():
    async def test(sim, http):
        for vanish in (False, True):
            call = sim.new_call()
            base = f"{sim.base_url}/realtime/calls/{call.call_id}"
            await http.post(f"{base}/accept", json={"type": "realtime"}, headers=auth(sim))
            call.faults.refer_vanishes = vanish
            missing = await http.post(f"{base}/refer", json={}, headers=auth(sim))
            assert assert_openai_error(missing, 400)["param"] == "target_uri"
            ok = await http.post(f"{base}/refer", json={"target_uri": "tel:+1"}, headers=auth(sim))
            assert ok.status_code == 200
            assert call.refer_targets == ["tel:+1"]
            if vanish:
                await outlast_a_transfer(sim)
                assert call.state == "accepted"
                assert any("vanished" in w for w in call.warnings)
            else:
                assert call.state == "accepted"  # the transfer takes a moment
                assert await call.wait_ended() == "transferred"

    run(with_sim(test))


def test_refer_before_accept_is_refused():
    async def test(sim, http):
        call = sim.new_call()
        response = await http.post(
            f"{sim.base_url}/realtime/calls/{call.call_id}/refer",
            json={"target_uri": "tel:+1"},
            headers=auth(sim),
        )
        assert "state: ringing" in assert_openai_error(response, 400)["message"]
        assert call.refer_targets == [] and call.state == "pending"

    run(with_sim(test))


def test_global_fault_with_times_and_hang():
    async def test(sim, http):
        sim.faults.hangup = RestFault(status=503, times=1, hang_s=0.05)
        call = sim.new_call()
        url = f"{sim.base_url}/realtime/calls/{call.call_id}/hangup"
        first = await http.post(url, headers=auth(sim))
        assert assert_openai_error(first, 503)["type"] == "server_error"
        second = await http.post(url, headers=auth(sim))
        assert second.status_code == 200
        assert await call.wait_ended() == "hangup"

    run(with_sim(test))


def test_wait_for_request_and_timeout_message():
    async def test(sim, http):
        call = sim.new_call()
        with pytest.raises(TimeoutError, match="REST accept #1"):
            await call.wait_for_request("accept", timeout=0.05)
        url = f"{sim.base_url}/realtime/calls/{call.call_id}/accept"
        asyncio.get_running_loop().call_later(
            0.01,
            lambda: asyncio.ensure_future(
                http.post(url, json={"type": "realtime"}, headers=auth(sim))
            ),
        )
        request = await call.wait_for_request("accept")
        assert request.body == {"type": "realtime"}

    run(with_sim(test))


# -- repeats, late answers, ringing transfers, load ---------------------------------------


def test_a_fault_that_took_effect_acts_at_once_and_answers_late():
    async def test(sim, http):
        call = sim.new_call()
        base = f"{sim.base_url}/realtime/calls/{call.call_id}"
        call.faults.accept = RestFault(hang_s=5, took_effect=True, times=1)
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{base}/accept", json={"type": "realtime"}, headers=auth(sim),
                            timeout=0.2)  # fmt: skip
        assert call.state == "accepted"  # done, though the client saw no answer
        again = await http.post(f"{base}/accept", json={"type": "realtime"}, headers=auth(sim))
        error = assert_openai_error(again, 400)
        assert error["message"] == "Call is not ringing (state: accepted)."
        assert error["type"] == "invalid_request_error"

        call.faults.refer = RestFault(hang_s=5, took_effect=True, times=1)
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{base}/refer", json={"target_uri": "tel:+1"}, headers=auth(sim),
                            timeout=0.2)  # fmt: skip
        assert call.refer_targets == ["tel:+1"]
        assert await call.wait_ended() == "transferred"

        other = sim.new_call()
        url = f"{sim.base_url}/realtime/calls/{other.call_id}"
        await http.post(f"{url}/accept", json={"type": "realtime"}, headers=auth(sim))
        other.faults.hangup = RestFault(hang_s=5, status=500, took_effect=True)
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{url}/hangup", headers=auth(sim), timeout=0.2)
        assert other.end_reason == "hangup"

    run(with_sim(test))


def test_repeated_actions_are_answered_like_the_real_api():
    async def test(sim, http):
        call = sim.new_call()
        base = f"{sim.base_url}/realtime/calls/{call.call_id}"
        await http.post(f"{base}/accept", json={"type": "realtime"}, headers=auth(sim))
        rejected = await http.post(f"{base}/reject", json={}, headers=auth(sim))
        assert assert_openai_error(rejected, 400)["message"] == (
            "Call is not ringing (state: accepted)."
        )
        assert (await http.post(f"{base}/hangup", headers=auth(sim))).status_code == 200
        await call.wait_ended()
        again = await http.post(f"{base}/hangup", headers=auth(sim))
        assert assert_openai_error(again, 404)["code"] == "call_id_not_found"
        late = await http.post(f"{base}/accept", json={"type": "realtime"}, headers=auth(sim))
        assert assert_openai_error(late, 404)["code"] == "call_id_not_found"
        assert call.end_reason == "hangup"
        assert call.warnings == []

    run(with_sim(test))


def test_a_ringing_transfer_keeps_the_call_up_then_ends_it(live):
    async def main():
        async with live() as (sim, call, _sideband, _received):
            call.faults.refer_ring_s = 0.3
            base = f"{sim.base_url}/realtime/calls/{call.call_id}"
            async with httpx.AsyncClient() as http:
                ok = await http.post(
                    f"{base}/refer", json={"target_uri": "tel:+1"}, headers=auth(sim)
                )
            assert ok.status_code == 200
            assert call.state == "accepted" and call.connected  # the caller is on hold
            assert await call.wait_ended() == "transferred"
            refer = call.requests_for("refer")[0]
            assert call.ended_at - refer.at >= 0.3  # simulated: it rang at least that long
            assert not call.connected
            assert call.warnings == []

    run(main())


def test_a_second_refer_while_the_first_rings_is_recorded(live):
    async def main():
        async with live() as (sim, call, _sideband, _received):
            sim.faults.refer_ring_s = 5
            base = f"{sim.base_url}/realtime/calls/{call.call_id}"
            async with httpx.AsyncClient() as http:
                for target in ("tel:+1", "tel:+2"):
                    ok = await http.post(
                        f"{base}/refer", json={"target_uri": target}, headers=auth(sim)
                    )
                    assert ok.status_code == 200  # [inf] OpenAI relays it again
            assert call.refer_targets == ["tel:+1", "tel:+2"]
            assert len(call.warnings) == 1
            assert "while the refer to tel:+1 still rings" in call.warnings[0]

    run(main())


def test_a_vanishing_refer_rings_and_the_call_stays(live):
    async def main():
        async with live() as (sim, call, _sideband, _received):
            call.faults.refer_ring_s = 0.05
            call.faults.refer_vanishes = 1
            base = f"{sim.base_url}/realtime/calls/{call.call_id}"
            async with httpx.AsyncClient() as http:
                first = {"target_uri": "tel:+1"}
                assert (await http.post(f"{base}/refer", json=first, headers=auth(sim))).is_success
                # Once the first target has rung out, a refer to the next one is no warning.
                loop = asyncio.get_running_loop()
                ringing_until = call.requests_for("refer")[0].at + 0.05 + sim.timing.refer_end_s
                await asyncio.sleep(max(0.0, ringing_until - loop.time()) + 0.01)
                second = {"target_uri": "tel:+2"}
                assert (await http.post(f"{base}/refer", json=second, headers=auth(sim))).is_success
            assert await call.wait_ended() == "transferred"
            assert [w for w in call.warnings if "still rings" in w] == []
            assert any("vanished" in w for w in call.warnings)

    run(main())


def test_rest_latency_grows_with_requests_in_flight():
    async def test(sim, http):
        calls = [sim.new_call() for _ in range(20)]

        async def accept(call, timeout):
            url = f"{sim.base_url}/realtime/calls/{call.call_id}/accept"
            try:
                response = await http.post(
                    url, json={"type": "realtime"}, headers=auth(sim), timeout=timeout
                )
            except httpx.TimeoutException:
                return None
            return response.status_code

        # Alone, a request waits 0.01 + 0.05 s: well inside its 2 s.
        assert await accept(calls[0], 2.0) == 200
        # Twenty at once: the last one in waits 0.01 + 20 × 0.05 = 1.01 s, past its 0.5 s.
        statuses = await asyncio.gather(*(accept(c, 0.5) for c in calls[1:]))
        assert None in statuses
        # The server still performs every one of them: the client gave up, not the API.
        for call in calls:
            await call.wait_until(lambda c=call: c.accepted, what="accepted")

    run(with_sim(test, timing=Timing(rest_latency_s=0.01, rest_latency_per_inflight_s=0.05)))

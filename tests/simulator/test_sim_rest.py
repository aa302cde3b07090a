"""The simulator's REST call control, spoken to with plain httpx."""

import asyncio

import httpx
import pytest

from engine.simulator import RestFault, Simulator


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


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
        assert "already been accepted" in assert_openai_error(again, 400)["message"]
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
                await asyncio.sleep(sim.timing.refer_end_s * 3)
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
        assert_openai_error(response, 400)

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

"""Accepting a call over REST: the body, and what the engine does when accept misbehaves."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.openai.rest import RetryBudget
from engine.simulator import RestFault

# One attempt only: the first failure's pause is longer than the whole budget.
ONE_ACCEPT = {"accept": RetryBudget(0.1, first_pause_s=0.2, max_pause_s=0.2)}
# A few quick attempts.
QUICK = {"accept": RetryBudget(0.5, first_pause_s=0.05)}


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_accept_body(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            placed = await h.place(to="+18005551212", from_="+14155550177")
            assert placed.status == 200
            body = placed.call.accept_body
            assert body["type"] == "realtime"
            assert body["model"] == "gpt-realtime-2.1"
            assert "+14155550177" in body["instructions"]
            assert "Acme's friendly support agent" in body["instructions"]
            assert "{{" not in body["instructions"]
            assert body["audio"]["output"]["voice"] == "marin"
            assert body["audio"]["input"]["transcription"]["model"]
            names = sorted(t["name"] for t in body["tools"])
            assert names == ["goodbye", "lookup_order", "tech_help", "to_billing"]
            assert all(t["type"] == "function" for t in body["tools"])
            keys = _keys(body)
            assert not keys & {"format", "input_audio_format", "output_audio_format"}
            assert placed.call.violations == []

    asyncio.run(main())


def test_accept_404_means_the_call_is_gone(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            h.sim.faults.accept = RestFault(status=404)
            placed = await h.place()
            assert placed.status == 200
            assert len(placed.call.requests_for("accept")) == 1
            assert placed.call.sideband_handshakes == []
            assert h.engine.calls == {}

    asyncio.run(main())


def test_accept_500_once_is_retried(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            h.sim.faults.accept = RestFault(status=500, times=1)
            placed = await h.place()
            assert placed.status == 200
            assert [r.status for r in placed.call.requests_for("accept")] == [500, 200]
            await placed.call.wait_connected()
            await placed.call.wait_for_client_event("response.create")
            assert len(h.engine.calls) == 1
            assert len(placed.call.sideband_handshakes) == 1

    asyncio.run(main())


def test_accept_500_always_answers_webhook_5xx(rt):
    async def main():
        async with rt(repo_flows=True, rest_budgets=QUICK) as h:
            h.sim.faults.accept = RestFault(status=500)
            placed = await h.place()
            assert placed.status is not None and placed.status >= 500
            assert len(placed.call.requests_for("accept")) >= 2
            assert h.engine.calls == {}

    asyncio.run(main())


def test_accept_hanging_answers_webhook_5xx_in_time(rt):
    async def main():
        async with rt(repo_flows=True, rest_timeout_s=0.3, rest_budgets=QUICK) as h:
            h.sim.faults.accept = RestFault(hang_s=60)
            placed = await h.place()
            assert placed.status is not None and placed.status >= 500
            # Every accept still hangs when the webhook is answered: the engine gave up
            # within its budget instead of waiting for OpenAI to answer.
            accepts = placed.call.requests_for("accept")
            assert accepts and all(r.status is None for r in accepts)
            assert h.engine.calls == {}

    asyncio.run(main())


def test_after_failed_answer_a_retry_delivery_can_still_answer(rt):
    async def main():
        async with rt(repo_flows=True, rest_budgets=ONE_ACCEPT) as h:
            h.sim.faults.accept = RestFault(status=500, times=1)
            placed = await h.place(attempts=2, retry_delays_s=(0.01,))
            assert [d.status for d in placed.deliveries] == [502, 200]
            await placed.call.wait_connected()

    asyncio.run(main())

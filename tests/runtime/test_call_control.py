"""Call control that is idempotent and cannot wedge, through the simulator: answers that
come too late, retries that meet their own effect, a stopped OpenAI, a hanging tool service."""

from __future__ import annotations

import asyncio
import base64

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.openai import ConfigError
from engine.openai.rest import RetryBudget
from engine.server import EngineSettings
from engine.simulator import RestFault, Timing

from harness import orders_flow
from helpers import wait_for

LATE = 3.0  # a fault's answer comes this late: long after the engine's 0.3 s attempt


def test_an_accept_that_took_effect_after_its_timeout_runs_the_call(rt):
    async def main():
        async with rt(repo_flows=True, rest_timeout_s=0.3) as h:
            h.sim.faults.accept = RestFault(hang_s=LATE, took_effect=True, times=1)
            placed = await h.place()
            assert placed.status == 200
            call = placed.call
            assert [r.status for r in call.requests_for("accept")][1:] == [400]
            assert call.requests_for("reject") == []  # never rejected once it may be accepted
            await call.wait_connected()
            await call.wait_for_client_event("response.create")  # the greeting
            rest = h.engine.metrics.value(
                "engine_openai_rest_total", action="accept", event="already_done"
            )
            assert rest == 1

    asyncio.run(main())


def test_an_accept_that_may_have_taken_effect_is_never_rejected(rt):
    async def main():
        quick = {"accept": RetryBudget(0.8, first_pause_s=0.05)}
        async with rt(repo_flows=True, rest_timeout_s=0.2, rest_budgets=quick) as h:
            # Every accept is answered 400 (a session OpenAI refuses), but only after the
            # engine stopped waiting: it cannot know, so it must not reject.
            h.sim.faults.accept = RestFault(hang_s=0.5, status=400)
            placed = await h.place()
            assert placed.status == 502  # OpenAI delivers again
            assert placed.call.requests_for("reject") == []
            assert h.engine.metrics.value("engine_webhooks_total", outcome="accept_uncertain") == 1

            h.sim.faults.accept = RestFault(status=400)  # refused, and nothing uncertain
            refused = await h.place()
            assert refused.status == 200
            assert [r.body for r in refused.call.requests_for("reject")] == [{"status_code": 480}]

    asyncio.run(main())


def test_a_refer_that_timed_out_makes_one_transfer(rt):
    async def main():
        async with rt(repo_flows=True, rest_timeout_s=0.3) as h:
            call = await h.answered()
            call.faults.refer = RestFault(hang_s=LATE, took_effect=True, times=1)
            call.faults.refer_ring_s = 0.5  # the target rings: the call stays up meanwhile
            call.model.call_tool("to_billing", {})
            await call.say("Billing please")
            assert await call.wait_ended(timeout=5) == "transferred"
            assert len(call.requests_for("refer")) == 1
            assert [w for w in call.warnings if "still rings" in w] == []
            rest = h.engine.metrics.value(
                "engine_openai_rest_total", action="refer", event="uncertain"
            )
            assert rest == 1

    asyncio.run(main())


def test_a_failing_hangup_is_retried_until_the_call_is_gone(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            call = await h.answered()
            call.faults.hangup = RestFault(status=500, times=2)
            call.model.call_tool("goodbye", {})
            await call.say("That's all, thanks")
            assert await call.wait_ended(timeout=5) == "hangup"
            assert [r.status for r in call.requests_for("hangup")] == [500, 500, 200]
            await h.wait_calls_over()

    asyncio.run(main())


def test_calls_arriving_at_once_all_get_accepted(rt):
    async def main():
        slow = {"timing": Timing(rest_latency_per_inflight_s=0.002)}
        async with rt(repo_flows=True, openai_concurrency=4, simulator=slow) as h:
            placed = await asyncio.gather(*(h.place() for _ in range(40)))
            assert [p.status for p in placed] == [200] * 40
            assert all(p.call.accepted for p in placed)
            assert all(p.call.requests_for("reject") == [] for p in placed)
            assert all(len(p.call.requests_for("accept")) == 1 for p in placed)  # queued

    asyncio.run(main())


def test_readyz_fails_when_openai_cannot_be_reached(rt):
    async def main():
        async with rt(repo_flows=True, readiness_probe_s=0.05) as h:
            ready = await h.http.get(h.url + "/readyz")
            assert ready.status_code == 200
            assert ready.json()["openai_reachable"] is True
            await h.sim.stop()

            async def unready():
                response = await h.http.get(h.url + "/readyz")
                return response if response.status_code == 503 else None

            response = await wait_for(unready, 5, "/readyz to answer 503", interval=0.02)
            assert response.json()["openai_reachable"] is False
            assert response.json()["draining"] is False

    asyncio.run(main())


def test_a_hanging_tool_service_does_not_starve_call_control(rt, serve):
    async def main():
        arrived: list[str] = []
        release = asyncio.Event()

        async def hang(request: Request) -> Response:
            arrived.append(request.path_params["order_id"])
            await release.wait()
            return JSONResponse({"status": "late"})

        app = Starlette(routes=[Route("/orders/{order_id}", hang)])
        async with serve(app) as base:
            flows = {"o.yaml": orders_flow(base, timeout=10)}
            async with rt(flows=flows, tool_concurrency=2) as h:
                try:
                    for n in range(3):  # more tool runs than the tools' pool holds
                        call = await h.answered("+18005550002")
                        call.model.call_tool("lookup_order", {"order_id": f"A{n}"})
                        await call.say("Where is my order?")
                    await h.wait_for(lambda: len(arrived) == 2, 3, "two tool requests hanging")
                    # Every tool slot hangs; call control has its own pool and slots.
                    placed = await h.place("+18005550002")
                    assert placed.status == 200
                    await placed.call.wait_connected()
                    await placed.call.hang_up()
                finally:
                    release.set()

    asyncio.run(main())


def test_concurrency_settings_come_from_the_environment():
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    env = {"OPENAI_API_KEY": "sk-proj-abcdefghijklmnop", "OPENAI_WEBHOOK_SECRET": secret}
    defaults = EngineSettings.from_env("flows", env)
    assert (defaults.openai_concurrency, defaults.tool_concurrency) == (100, 64)
    chosen = EngineSettings.from_env(
        "flows", {**env, "ENGINE_OPENAI_CONCURRENCY": "40", "ENGINE_TOOL_CONCURRENCY": "8"}
    )
    assert (chosen.openai_concurrency, chosen.tool_concurrency) == (40, 8)
    for bad in ("0", "-3", "many", "2.5", "5000"):
        with pytest.raises(ConfigError, match="ENGINE_OPENAI_CONCURRENCY"):
            EngineSettings.from_env("flows", {**env, "ENGINE_OPENAI_CONCURRENCY": bad})

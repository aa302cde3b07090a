"""Health, readiness, draining, /flows, /metrics, hot reload."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness import REPO_FLOWS

EXAMPLE_FLOWS = [p for p in REPO_FLOWS.glob("*.yaml") if not p.name.endswith(".test.yaml")]

NEW_FLOW = """\
name: New line v1
numbers: ["+18005550003"]
instructions: Version one agent.
greeting: Version one.
"""

BROKEN_FLOW = """\
name: New line v2
numbers: ["+18005550003"]
instructions: Version two agent.
greeting: Version two.
start: nowhere
"""


def test_health_and_readiness_and_draining(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            assert (await h.http.get(h.url + "/healthz")).status_code == 200
            ready = await h.http.get(h.url + "/readyz")
            assert ready.status_code == 200
            assert ready.json()["flows"] == len(EXAMPLE_FLOWS)
            h.engine.draining = True
            assert (await h.http.get(h.url + "/readyz")).status_code == 503
            assert (await h.http.get(h.url + "/healthz")).status_code == 200
            placed = await h.place()
            assert placed.status == 503
            assert placed.call.requests == []
            h.engine.draining = False

    asyncio.run(main())


def test_readyz_503_without_flows(rt):
    async def main():
        async with rt() as h:
            assert (await h.http.get(h.url + "/readyz")).status_code == 503

    asyncio.run(main())


def test_flows_and_metrics_show_no_secrets(rt, serve):
    seen: list[str] = []

    async def order(request: Request) -> Response:
        """acme-support's order service, on loopback."""
        seen.append(request.headers["authorization"])
        return JSONResponse({"order": request.path_params["order_id"], "status": "shipped"})

    async def main():
        env = {"ACME_TOKEN": "supersecret"}
        acme = (REPO_FLOWS / "acme-support.yaml").read_text(encoding="utf-8")
        async with serve(Starlette(routes=[Route("/orders/{order_id}", order)])) as base:
            local = {"acme-support.yaml": acme.replace("https://orders.acme.example", base)}
            async with rt(repo_flows=True, flows=local, environ=env) as h:
                call = await h.answered()
                call.model.call_tool("lookup_order", {"order_id": "A1"})
                await call.say("Where is my order?")
                await call.wait_for_client_event("response.create", count=2, timeout=5)
                assert seen == ["Bearer supersecret"]  # the secret was used on the call
                response = await h.http.get(h.url + "/flows")
                assert response.status_code == 200
                flows = {f["file"].rsplit("/", 1)[-1]: f for f in response.json()}
                assert set(flows) == {p.name for p in EXAMPLE_FLOWS}
                acme_numbers = flows["acme-support.yaml"]["numbers"]
                assert acme_numbers == ["+18005551212", "+442071234567"]
                assert flows["catch-all.yaml"]["numbers"] == ["*"]
                assert all(f["version"] and f["problems"] == [] for f in flows.values())
                metrics = await h.http.get(h.url + "/metrics")
                assert metrics.status_code == 200 and metrics.text
                for text in (response.text, metrics.text):
                    assert "supersecret" not in text
                    assert h.sim.api_key not in text
                    assert h.sim.webhook_secret not in text

    asyncio.run(main())


def test_hot_reload_new_flow_then_broken_version_keeps_old(rt):
    async def main():
        async with rt(repo_flows=False) as h:
            h.write_flow("new.yaml", NEW_FLOW)
            await h.wait_flow_status(
                lambda s: "new.yaml" in s and s["new.yaml"]["version"], "new flow"
            )
            placed = await h.place(to="+18005550003")
            assert placed.status == 200
            assert placed.call.accept_body["instructions"].startswith("Version one agent.")
            old_version = (await h.flow_status())["new.yaml"]["version"]

            h.write_flow("new.yaml", BROKEN_FLOW)
            status = await h.wait_flow_status(
                lambda s: s["new.yaml"]["problems"], "the problem reported"
            )
            assert status["new.yaml"]["version"] == old_version
            assert any("nowhere" in p["message"] for p in status["new.yaml"]["problems"])
            placed = await h.place(to="+18005550003")
            assert placed.status == 200
            assert placed.call.accept_body["instructions"].startswith("Version one agent.")

    asyncio.run(main())

"""The webhook endpoint over real sockets: verification, dedupe, routing, limits."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from engine.connections import BURST_DELIVERIES
from engine.simulator import RestFault, SimCall, sip_headers_for
from engine.simulator.webhooks import encode_body, incoming_call_event


def _pending(sim, to: str = "+18005551212", carrier: str = "twilio") -> tuple[SimCall, bytes]:
    headers = sip_headers_for(carrier, from_="+14155550100", to=to, ids=sim.ids)
    call = sim.new_call(sip_headers=headers)
    event = incoming_call_event(
        event_id=sim.ids.webhook_event(),
        call_id=call.call_id,
        sip_headers=headers,
        media_security="srtp",
        created_at=int(time.time()),
    )
    return call, encode_body(event)


@pytest.mark.parametrize("variant", ["forged", "unsigned", "stale", "future"])
def test_bad_signature_is_400_and_nothing_happens(rt, variant):
    async def main():
        async with rt(repo_flows=True) as h:
            call, body = _pending(h.sim)
            now = int(time.time())
            kwargs = {
                "forged": {"secret": "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="},
                "unsigned": {"sign": False},
                "stale": {"timestamp": now - 600},
                "future": {"timestamp": now + 600},
            }[variant]
            status = await h.sim.send_webhook(h.webhook, body, **kwargs)
            assert status == 400
            assert call.requests == [] and h.sim.requests == []
            assert call.state == "pending"

    asyncio.run(main())


def test_replayed_and_redelivered_webhook_accepts_once(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            placed = await h.place()
            assert placed.status == 200
            assert await placed.resend("replay") == 200
            assert await placed.resend("redeliver") == 200
            await placed.call.wait_connected()
            assert len(placed.call.requests_for("accept")) == 1
            assert len(h.engine.calls) == 1

    asyncio.run(main())


def test_concurrent_deliveries_accept_once(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            call, body = _pending(h.sim)
            statuses = await asyncio.gather(
                h.sim.send_webhook(h.webhook, body, webhook_id="wh_same"),
                h.sim.send_webhook(h.webhook, body, webhook_id="wh_same"),
                h.sim.send_webhook(h.webhook, body, webhook_id="wh_other"),
            )
            assert statuses == [200, 200, 200]
            await call.wait_connected()
            assert len(call.requests_for("accept")) == 1

    asyncio.run(main())


def test_malformed_json_signed_is_400(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            assert await h.sim.send_webhook(h.webhook, b'{"type": "realtime.call.inc') == 400
            assert h.sim.requests == []

    asyncio.run(main())


def test_incoming_call_without_call_id_is_400(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            body = json.dumps(
                {"id": "evt_1", "type": "realtime.call.incoming", "created_at": 1, "data": {}}
            ).encode()
            assert await h.sim.send_webhook(h.webhook, body) == 400

    asyncio.run(main())


def test_other_event_type_is_200_and_ignored(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            body = json.dumps(
                {
                    "id": "evt_2",
                    "object": "event",
                    "type": "response.completed",
                    "created_at": int(time.time()),
                    "data": {"id": "resp_1"},
                }
            ).encode()
            assert await h.sim.send_webhook(h.webhook, body) == 200
            assert h.sim.requests == [] and h.engine.calls == {}

    asyncio.run(main())


def test_body_over_limit_is_413(rt):
    async def main():
        async with rt(repo_flows=True, max_body_bytes=2048) as h:
            call, body = _pending(h.sim)
            padded = body[:-1] + b', "pad": "' + b"x" * 4096 + b'"}'
            assert await h.sim.send_webhook(h.webhook, padded) == 413
            assert call.requests == []

            # the same limit holds when the body is streamed without a length
            async def chunks():
                yield b"x" * 1500
                yield b"y" * 1500

            response = await h.http.post(
                h.webhook,
                content=chunks(),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 413

    asyncio.run(main())


UNUSED_LINE = """\
name: Only line
numbers: ["+18005550001"]
instructions: Test agent.
greeting: Hello.
"""


def test_unknown_number_without_catch_all_is_rejected_404(rt):
    async def main():
        async with rt(flows={"only.yaml": UNUSED_LINE}) as h:
            placed = await h.place(to="+19995550000")
            assert placed.status == 200
            rejects = placed.call.requests_for("reject")
            assert len(rejects) == 1 and rejects[0].body == {"status_code": 404}
            assert placed.call.reject_status == 404
            assert placed.call.requests_for("accept") == []

    asyncio.run(main())


def test_catch_all_answers_unknown_number(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            placed = await h.place(to="+19995550000")
            assert placed.status == 200
            body = placed.call.accept_body
            assert body is not None and "not in service" in body["instructions"]

    asyncio.run(main())


@pytest.mark.parametrize("carrier", ["twilio", "bandwidth", "wavix"])
@pytest.mark.parametrize(
    ("to", "marker"),
    [("+14155550123", "Example Dental"), ("+18005551212", "Acme"), ("+442071234567", "Acme")],
)
def test_carrier_to_shapes_route_to_the_right_flow(rt, carrier, to, marker):
    async def main():
        async with rt(repo_flows=True) as h:
            placed = await h.place(to=to, carrier=carrier)
            assert placed.status == 200
            body = placed.call.accept_body
            assert body is not None, placed.call.requests
            assert marker in body["instructions"]
            assert "not in service" not in body["instructions"]

    asyncio.run(main())


def test_replies_close_their_connection_in_a_burst_only(rt):
    """A lone call's reply keeps its connection for the next delivery; while a burst of
    deliveries waits for accepts, each reply asks for a new one (engine.connections)."""

    async def main():
        async with rt(repo_flows=True) as h:
            lone = await h.place()
            assert lone.status == 200
            assert lone.deliveries[-1].response_headers.get("connection") != "close"

            # Accepts held long enough that the whole burst is being answered at once.
            h.sim.faults.accept = RestFault(hang_s=1.0)
            burst = await asyncio.gather(*(h.place() for _ in range(BURST_DELIVERIES + 4)))
            assert [p.status for p in burst] == [200] * len(burst)
            closing = [
                p for p in burst if p.deliveries[-1].response_headers.get("connection") == "close"
            ]
            assert len(closing) >= 4  # at least those that came while 16 were being answered

            h.sim.faults.accept = None
            after = await h.place()
            assert after.status == 200
            assert after.deliveries[-1].response_headers.get("connection") != "close"

    asyncio.run(main())

"""The webhook sender, received by a small verifying endpoint on loopback."""

import asyncio
import contextlib
import json
import re
import time

import pytest

from engine.openai import ReplayGuard, WebhookRejected, parse_incoming_call, verify_webhook
from engine.simulator import CARRIERS, USER_AGENT, Simulator
from engine.simulator.http import HttpResponse, HttpServer

from helpers import run


class Receiver:
    """A webhook endpoint as the engine would write one: verify, dedupe, answer."""

    def __init__(self, secret, fail_first=0, hang_s=0.0):
        self.secret = secret
        self.guard = ReplayGuard()
        self.fail_first = fail_first
        self.hang_s = hang_s
        self.received = []  # (headers, body, outcome)
        self.server = HttpServer(self.handle, self.refuse_upgrade)

    async def handle(self, request):
        headers = dict((k.lower(), v) for k, v in request.headers)
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        if self.fail_first > 0:
            self.fail_first -= 1
            self.received.append((headers, request.body, "failed"))
            return HttpResponse(500)
        try:
            verify_webhook(request.body, headers, self.secret)
        except WebhookRejected as exc:
            self.received.append((headers, request.body, exc.reason))
            return HttpResponse(400)
        duplicate = self.guard.seen_before(headers["webhook-id"])
        self.received.append((headers, request.body, "duplicate" if duplicate else "ok"))
        return HttpResponse(200)

    async def refuse_upgrade(self, request, reader, writer):
        writer.close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.port}/webhooks/openai"


@contextlib.asynccontextmanager
async def world(**receiver_kwargs):
    async with Simulator(webhook_timeout_s=receiver_kwargs.pop("timeout_s", 5.0)) as sim:
        receiver = Receiver(sim.webhook_secret, **receiver_kwargs)
        await receiver.server.start()
        try:
            yield sim, receiver
        finally:
            await receiver.server.stop()


def test_place_call_delivers_a_signed_event_shaped_like_the_reference():
    async def main():
        async with world() as (sim, receiver):
            placed = await sim.place_call(receiver.url, to="+18005550123", from_="+14155550100")
            assert placed.status == 200
            headers, body, outcome = receiver.received[0]
            assert outcome == "ok"
            assert body == placed.body
            assert headers["user-agent"] == USER_AGENT
            assert headers["content-type"] == "application/json"
            assert re.fullmatch(r"wh_[0-9a-f]{32}", headers["webhook-id"])
            assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
            assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])

            event = json.loads(body)
            assert set(event) == {"object", "id", "type", "created_at", "data"}
            assert event["object"] == "event" and event["type"] == "realtime.call.incoming"
            assert re.fullmatch(r"evt_[0-9a-f]{32}", event["id"])
            assert isinstance(event["created_at"], int)
            data = event["data"]
            assert set(data) == {"call_id", "sip_headers", "sip_media_security"}
            assert re.fullmatch(r"rtc_[0-9a-f]{32}", data["call_id"])
            assert data["sip_media_security"] == "srtp"
            assert all(set(h) == {"name", "value"} for h in data["sip_headers"])

            call = parse_incoming_call(event, headers["webhook-id"])
            assert call.call_id == placed.call.call_id == placed.call_id
            assert "+14155550100" in call.header("From")
            assert "+18005550123" in call.header("To")
            assert placed.call.state == "pending"
            assert sim.calls[call.call_id] is placed.call

    run(main())


@pytest.mark.parametrize(
    ("variant", "status", "outcome"),
    [
        ("forged", 400, "no matching signature"),
        ("tampered", 400, "no matching signature"),
        ("unsigned", 400, "missing header(s): webhook-signature"),
        ("stale", 400, "stale timestamp"),
        ("future", 400, "timestamp in the future"),
        ("rotated", 200, "duplicate"),
        ("replay", 200, "duplicate"),
        ("redeliver", 200, "duplicate"),
    ],
)
def test_bad_and_repeated_deliveries(variant, status, outcome):
    async def main():
        async with world() as (sim, receiver):
            placed = await sim.place_call(receiver.url)
            assert await placed.resend(variant) == status
            headers, body, got = receiver.received[-1]
            assert outcome in got
            assert headers["webhook-id"] == placed.webhook_id
            if variant == "replay":
                first_headers, first_body, _ = receiver.received[0]
                assert (headers, body) == (first_headers, first_body)
            if variant == "rotated":
                assert len(headers["webhook-signature"].split(" ")) == 2
            assert [d.variant for d in placed.deliveries] == ["original", variant]

    run(main())


def test_unknown_variant_is_refused():
    async def main():
        async with world() as (sim, receiver):
            placed = await sim.place_call(receiver.url)
            with pytest.raises(ValueError, match="unknown variant"):
                await placed.resend("sneaky")

    run(main())


def test_failed_deliveries_are_retried_with_the_same_id():
    async def main():
        async with world(fail_first=2) as (sim, receiver):
            placed = await sim.place_call(receiver.url, attempts=5, retry_delays_s=(0.01,))
            assert [d.status for d in placed.deliveries] == [500, 500, 200]
            assert {d.webhook_id for d in placed.deliveries} == {placed.webhook_id}
            assert [o for _, _, o in receiver.received] == ["failed", "failed", "ok"]

    run(main())


def test_retries_are_bounded():
    async def main():
        async with world(fail_first=10) as (sim, receiver):
            placed = await sim.place_call(receiver.url, attempts=3, retry_delays_s=(0.01,))
            assert [d.status for d in placed.deliveries] == [500, 500, 500]
            assert placed.status == 500

    run(main())


def test_slow_endpoint_counts_as_no_answer():
    async def main():
        async with world(hang_s=1.0, timeout_s=0.1) as (sim, receiver):
            placed = await sim.place_call(receiver.url)
            assert placed.status is None
            assert placed.deliveries[0].error == "timeout"

    run(main())


def test_send_webhook_posts_raw_bytes():
    async def main():
        async with world() as (sim, receiver):
            assert await sim.send_webhook(receiver.url, b"{not json") == 400
            assert receiver.received[-1][2] == "body is not valid JSON"
            assert await sim.send_webhook(receiver.url, b"{}", sign=False) == 400
            other = json.dumps({"type": "batch.completed", "data": {}}).encode()
            assert await sim.send_webhook(receiver.url, other, webhook_id="wh_x") == 200
            assert receiver.received[-1][0]["webhook-id"] == "wh_x"

    run(main())


@pytest.mark.parametrize("carrier", CARRIERS)
def test_carrier_headers_are_realistic(carrier):
    async def main():
        async with world() as (sim, receiver):
            placed = await sim.place_call(
                receiver.url,
                carrier=carrier,
                extra_headers={"X-Shop-Id": "42"},
                media_security=None,
            )
            event = json.loads(placed.body)
            assert "sip_media_security" not in event["data"]
            call = parse_incoming_call(event, placed.webhook_id)
            assert call.media_security is None
            assert call.headers("X-Shop-Id") == ["42"]
            assert call.header("Call-ID")
            if carrier == "plain":
                return
            assert ";tag=" in call.header("From")
            assert re.search(r"@\d+\.\d+\.\d+\.\d+:5061", call.header("Contact"))
            assert call.header("Content-Type") == "application/sdp"
            assert re.fullmatch(r"\d+ INVITE", call.header("CSeq"))
            assert call.header("Max-Forwards").isdigit()
            assert call.headers("Via")

    run(main())


def test_carrier_quirks():
    async def main():
        async with world() as (sim, receiver):
            twilio = await sim.place_call(receiver.url, caller_name="Jane Doe")
            bw = await sim.place_call(receiver.url, carrier="bandwidth")
            wavix = await sim.place_call(receiver.url, carrier="wavix", from_="+442071838750")
            anon = await sim.place_call(receiver.url, anonymous=True)

            def incoming(placed):
                return parse_incoming_call(json.loads(placed.body), placed.webhook_id)

            assert incoming(twilio).header("From").startswith('"Jane Doe" <sip:+14155550100@')
            assert incoming(twilio).header("X-Twilio-CallSid").startswith("CA")
            assert ";user=phone" in incoming(bw).header("To")
            assert len(incoming(bw).headers("Via")) == 2
            assert "<sip:442071838750@" in incoming(wavix).header("From")
            assert "anonymous" in incoming(anon).header("From")
            assert incoming(anon).header("Privacy") == "id"
            assert "+14155550100" in incoming(anon).header("P-Asserted-Identity")

    run(main())


def test_unknown_carrier_is_refused():
    async def main():
        async with world() as (sim, receiver):
            with pytest.raises(ValueError, match="unknown carrier"):
                await sim.place_call(receiver.url, carrier="acme")

    run(main())


def test_same_seed_same_ids():
    async def ids(seed):
        async with Simulator(seed=seed) as sim:
            return [sim.new_call().call_id for _ in range(3)]

    assert run(ids(7)) == run(ids(7))
    assert run(ids(7)) != run(ids(8))

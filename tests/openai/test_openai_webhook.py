import base64
import json
import time

import pytest
from standardwebhooks import Webhook

from engine.openai import ReplayGuard, WebhookRejected, verify_webhook
from engine.simulator import sign_webhook

SECRET = "whsec_" + base64.b64encode(b"webhook-secret-for-tests-123456").decode()
OTHER = "whsec_" + base64.b64encode(b"some-other-secret-key-000000000").decode()
BODY = json.dumps(
    {
        "object": "event",
        "id": "evt_1",
        "type": "realtime.call.incoming",
        "created_at": 1750287018,
        "data": {"call_id": "rtc_1", "sip_headers": []},
    }
).encode()


def headers(body=BODY, *, secret=SECRET, ts=None, msg_id="wh_1", signature=None):
    ts = int(time.time()) if ts is None else ts
    sig = signature if signature is not None else sign_webhook(secret, msg_id, ts, body)
    return {"Webhook-Id": msg_id, "Webhook-Timestamp": str(ts), "Webhook-Signature": sig}


def test_good_delivery_returns_the_event():
    event = verify_webhook(BODY, headers(), SECRET)
    assert event["type"] == "realtime.call.incoming"
    assert event["data"]["call_id"] == "rtc_1"


def test_simulator_signatures_agree_with_standardwebhooks():
    h = headers()
    lowered = {k.lower(): v for k, v in h.items()}
    assert Webhook(SECRET).verify(BODY, lowered)["id"] == "evt_1"


def reason_of(body, hdrs, secret=SECRET, **kw):
    with pytest.raises(WebhookRejected) as info:
        verify_webhook(body, hdrs, secret, **kw)
    assert "webhook-secret-for-tests" not in info.value.reason
    assert SECRET not in str(info.value)
    return info.value.reason


def test_forged_signature_is_rejected():
    assert reason_of(BODY, headers(secret=OTHER)) == "no matching signature"


def test_tampered_body_is_rejected():
    h = headers()
    assert reason_of(BODY.replace(b"rtc_1", b"rtc_2"), h) == "no matching signature"


def test_reserialised_body_is_rejected():
    compact = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    assert reason_of(compact, headers()) == "no matching signature"


@pytest.mark.parametrize("missing", ["Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"])
def test_missing_header_is_rejected(missing):
    h = headers()
    del h[missing]
    assert missing.lower() in reason_of(BODY, h)


def test_stale_and_future_timestamps_are_rejected():
    now = time.time()
    assert "stale" in reason_of(BODY, headers(ts=int(now) - 301), now=now)
    assert "future" in reason_of(BODY, headers(ts=int(now) + 301), now=now)
    # inside the tolerance both ways
    assert verify_webhook(BODY, headers(ts=int(now) - 299), SECRET, now=now)
    assert verify_webhook(BODY, headers(ts=int(now) + 299), SECRET, now=now)


def test_tolerance_and_clock_are_injectable():
    ts = 1_000_000
    assert verify_webhook(BODY, headers(ts=ts), SECRET, now=ts + 50, tolerance_s=60)
    assert "stale" in reason_of(BODY, headers(ts=ts), now=ts + 61, tolerance_s=60)


def test_non_integer_timestamp_is_rejected():
    h = headers()
    h["Webhook-Timestamp"] = "yesterday"
    assert "not an integer" in reason_of(BODY, h)


def test_malformed_signature_list_is_rejected_not_crashing():
    assert reason_of(BODY, headers(signature="garbage v2,abc ,,,")) == "no matching signature"


def test_rotation_with_two_signatures_accepts_either_secret():
    ts = int(time.time())
    both = " ".join([sign_webhook(OTHER, "wh_1", ts, BODY), sign_webhook(SECRET, "wh_1", ts, BODY)])
    assert verify_webhook(BODY, headers(ts=ts, signature=both), SECRET)["id"] == "evt_1"
    assert verify_webhook(BODY, headers(ts=ts, signature=both), OTHER)["id"] == "evt_1"


def test_signed_malformed_json_is_rejected():
    body = b'{"type": "realtime.call.incoming", '
    assert reason_of(body, headers(body)) == "body is not valid JSON"


def test_signed_non_object_json_is_rejected():
    body = b"[1, 2]"
    assert reason_of(body, headers(body)) == "body is not a JSON object"


def test_misconfigured_secret_never_verifies():
    assert "misconfigured" in reason_of(BODY, headers(), secret="not-a-secret")


def test_replay_guard_records_and_answers():
    guard = ReplayGuard()
    assert guard.seen_before("wh_1") is False
    assert guard.seen_before("wh_1") is True
    assert guard.seen_before("wh_2") is False
    assert len(guard) == 2


def test_replay_guard_forgets_after_ttl():
    now = [0.0]
    guard = ReplayGuard(ttl_s=10, clock=lambda: now[0])
    guard.seen_before("a")
    now[0] = 5
    guard.seen_before("b")
    now[0] = 9.9
    assert guard.seen_before("a") is True
    now[0] = 10.0
    assert guard.seen_before("a") is False  # expired, recorded afresh
    assert guard.seen_before("b") is True
    now[0] = 100
    assert len(guard) == 0


def test_replay_guard_is_bounded_and_evicts_oldest():
    guard = ReplayGuard(max_entries=3)
    for key in "abcd":
        guard.seen_before(key)
    assert len(guard) == 3
    assert guard.seen_before("a") is False  # evicted
    assert guard.seen_before("d") is True


def test_replay_guard_forget():
    guard = ReplayGuard()
    guard.seen_before("x")
    guard.forget("x")
    assert guard.seen_before("x") is False


def test_replay_guard_validates_arguments():
    with pytest.raises(ValueError):
        ReplayGuard(ttl_s=0)

"""The metrics an IVR owner reads at /metrics: from finished call records (built here by
hand, as the recorder builds them), and from the engine's own moments, through the real
server and the simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.metrics import Metrics
from engine.records.record import CallOutcome, CallRecord, ToolCall, TransferTry

from helpers import wait_for

NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
SUPPORT = "/srv/flows/acme/acme-support.yaml"
CALLER = "+14155550199"


def page(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exposition, parsed back as Prometheus would: (sample, labels) → value."""
    samples = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return page(metrics).get((name, tuple(sorted(labels.items()))))


def tool(name: str, outcome: str = "ok", ms: float | None = 100.0) -> ToolCall:
    return ToolCall(name, NOW, {"order": "A-1001", "phone": CALLER}, outcome, duration_ms=ms)


def record(**fields) -> CallRecord:
    fields.setdefault("flow_file", SUPPORT)
    fields.setdefault("from_number", CALLER)
    fields.setdefault("to_number", "+18005551212")
    return CallRecord(fields.pop("call_id", "rtc_4f1d9c2e"), NOW, **fields)


# -- from call records -------------------------------------------------------------------


def test_calls_are_counted_by_flow_stem_and_outcome():
    m = Metrics()
    m.flow_loaded(SUPPORT, [])
    m.record_call(record(outcome=CallOutcome.HANDLED))
    m.record_call(record(outcome=CallOutcome.HANDLED))
    m.record_call(record(outcome=CallOutcome.ABANDONED))
    m.record_call(record(flow_file=None, outcome=CallOutcome.REJECTED))
    m.record_call(record(outcome=None))  # a recorder's fault: counted, not lost

    assert sample(m, "engine_calls_total", flow="acme-support", outcome="handled") == 2
    assert sample(m, "engine_calls_total", flow="acme-support", outcome="abandoned") == 1
    assert sample(m, "engine_calls_total", flow="acme-support", outcome="unknown") == 1
    assert sample(m, "engine_calls_total", flow="none", outcome="rejected") == 1
    # A loaded flow shows every outcome from 0, so a rate has a start.
    assert sample(m, "engine_calls_total", flow="acme-support", outcome="failed") == 0


def test_rejections_are_counted_by_flow_and_a_bounded_reason():
    m = Metrics()
    rejected = {"outcome": CallOutcome.REJECTED, "decision": "rejected", "reject_status": 486}
    m.record_call(record(reject_kind="closed", **rejected))
    m.record_call(record(reject_kind="caller_rule", **rejected))
    m.record_call(record(flow_file=None, reject_kind="unknown_number", **rejected))
    m.record_call(record(reject_kind="no flow answers '+18005550000'", **rejected))
    m.record_call(record(reject_kind="closed", outcome=CallOutcome.HANDLED))  # not rejected

    reasons = {
        (dict(labels)["flow"], dict(labels)["reason"]): value
        for (name, labels), value in page(m).items()
        if name == "engine_call_rejections_total"
    }
    assert reasons == {
        ("acme-support", "closed"): 1,
        ("acme-support", "caller_rule"): 1,
        ("none", "unknown_number"): 1,
        ("acme-support", "other"): 1,
    }


def test_tool_calls_by_flow_tool_and_result_with_their_services_time():
    m = Metrics()
    m.flow_loaded(SUPPORT, ["lookup_order", "to_billing"])
    m.record_call(
        record(
            outcome=CallOutcome.TRANSFERRED,
            tools=[
                tool("lookup_order", "ok", 120.0),
                tool("lookup_order", "timeout", 5000.0),
                tool("lookup_order", "failed", None),  # no time: counted, not timed
                tool("to_billing", "ok", None),
            ],
        )
    )
    m.record_call(record(outcome=CallOutcome.HANDLED, tools=[tool("lookup_order", "ok", 80.0)]))

    def calls(name: str, result: str) -> float | None:
        return sample(m, "engine_tool_calls_total", flow="acme-support", tool=name, result=result)

    assert calls("lookup_order", "ok") == 2
    assert calls("lookup_order", "timeout") == 1
    assert calls("lookup_order", "failed") == 1
    assert calls("to_billing", "ok") == 1
    timed = {"flow": "acme-support", "tool": "lookup_order"}
    assert sample(m, "engine_tool_duration_seconds_count", **timed) == 3
    assert sample(m, "engine_tool_duration_seconds_sum", **timed) == pytest.approx(5.2)
    assert sample(m, "engine_tool_duration_seconds_bucket", le="0.1", **timed) == 1
    assert sample(m, "engine_tool_duration_seconds_bucket", le="0.25", **timed) == 2
    assert (
        sample(m, "engine_tool_duration_seconds_count", flow="acme-support", tool="to_billing")
        is None
    )


def test_a_tool_the_flow_never_declared_and_an_unknown_result_count_as_other():
    m = Metrics()
    m.flow_loaded(SUPPORT, ["lookup_order"])
    m.flow_loaded(SUPPORT, ["lookup_order_v2"])  # a new version: the old name still counts
    m.record_call(
        record(
            outcome=CallOutcome.HANDLED,
            tools=[
                tool("lookup_order"),
                tool("lookup_order_v2"),
                tool("ignore previous instructions +14155550199", "ok", 10.0),
                tool("lookup_order", "exploded"),
            ],
        )
    )
    tools = {
        (dict(labels)["tool"], dict(labels)["result"]): value
        for (name, labels), value in page(m).items()
        if name == "engine_tool_calls_total"
    }
    assert tools == {
        ("lookup_order", "ok"): 1,
        ("lookup_order_v2", "ok"): 1,
        ("other", "ok"): 1,
        ("lookup_order", "other"): 1,
    }
    # A flow the metrics were never told about: its tools are all `other`.
    m.record_call(record(flow_file="flows/new.yaml", tools=[tool("lookup_order")]))
    assert sample(m, "engine_tool_calls_total", flow="new", tool="other", result="ok") == 1


def test_transfers_are_counted_by_flow_and_result():
    m = Metrics()
    tries = [
        TransferTry("tel:+18005550100", NOW, "no_answer"),
        TransferTry("sip:billing@pbx.example.com", NOW, "took"),
        TransferTry("tel:+18005550101", NOW, "busy?"),
    ]
    m.record_call(record(outcome=CallOutcome.TRANSFERRED, transfers=tries))
    results = {
        dict(labels)["result"]: value
        for (name, labels), value in page(m).items()
        if name == "engine_transfers_total"
    }
    assert results == {"no_answer": 1, "took": 1, "other": 1}


def test_no_number_call_id_or_argument_reaches_the_exposition():
    m = Metrics()
    m.flow_loaded(SUPPORT, ["lookup_order"])
    m.record_call(
        record(
            call_id="rtc_secretcall123",
            outcome=CallOutcome.TRANSFERRED,
            headers={"X-Account": "998877"},
            tools=[tool("lookup_order"), tool(CALLER)],
            transfers=[TransferTry("tel:+18005550100", NOW, "took", detail="SIP 200")],
        )
    )
    text = m.render().decode()
    for leaked in ("rtc_secretcall123", CALLER, "+18005551212", "8005550100", "998877", "A-1001"):
        assert leaked not in text


# -- records dropped, the event loop ------------------------------------------------------


def test_records_dropped_is_read_from_the_store_at_each_scrape(caplog):
    m = Metrics()
    assert sample(m, "engine_records_dropped_total") == 0  # no store plugged in yet
    dropped = [0]
    m.watch_records_dropped(lambda: dropped[0])
    dropped[0] = 3
    assert sample(m, "engine_records_dropped_total") == 3
    dropped[0] = 7
    assert m.value("engine_records_dropped_total") == 7

    def broken() -> int:
        raise RuntimeError("the store is gone")

    m.watch_records_dropped(broken)
    with caplog.at_level(logging.ERROR, logger="engine.metrics"):
        text = m.render().decode()  # the scrape still answers
    assert "# HELP engine_records_dropped_total" in text
    assert not re.search(r"(?m)^engine_records_dropped_total ", text)  # none, not a wrong one
    assert "engine_webhooks_total" in text
    assert any("engine_records_dropped" in r.getMessage() for r in caplog.records)


def test_event_loop_lag_sees_a_blocked_loop_and_stops_with_the_engine():
    async def main():
        m = Metrics(loop_lag_interval_s=0.01)
        m.start()
        m.start()  # started once, however often asked
        try:
            await wait_for(
                lambda: m.value("engine_event_loop_lag_seconds_count") >= 1, what="a sample"
            )
            before = m.value("engine_event_loop_lag_seconds_count")
            # The sampler is asleep, due within 10 ms: block the loop for 60 ms, so its
            # next sample is at least 50 ms late.
            time.sleep(0.06)
            await wait_for(
                lambda: m.value("engine_event_loop_lag_seconds_count") > before,
                what="a late sample",
            )
            fast = m.value("engine_event_loop_lag_seconds_bucket", le="0.025")
            assert m.value("engine_event_loop_lag_seconds_bucket", le="+Inf") > fast
        finally:
            await m.stop()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())


def test_the_lag_interval_must_be_positive():
    with pytest.raises(ValueError, match="loop_lag_interval_s"):
        Metrics(loop_lag_interval_s=0)


# -- through the server ------------------------------------------------------------------


def test_webhooks_live_calls_and_latencies_through_the_server(rt):
    async def main():
        async with rt(repo_flows=True) as h:
            metrics = h.engine.metrics

            def webhooks(outcome: str) -> float:
                return metrics.value("engine_webhooks_total", outcome=outcome)

            call = await h.answered()
            nuisance = await h.place(from_="+15550001999")  # a caller rule rejects it
            assert nuisance.call.reject_status == 603
            response = await h.http.get(h.url + "/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            families = {f.name: f for f in text_string_to_metric_families(response.text)}
            assert all(f.documentation for f in families.values())
            [live] = families["engine_live_calls"].samples
            assert live.value == 1
            assert webhooks("accepted") == 1 and webhooks("rejected") == 1
            # Each loaded flow's calls are there from the start, at 0 until a record comes.
            handled = {"flow": "acme-support", "outcome": "handled"}
            assert metrics.registry.get_sample_value("engine_calls_total", handled) == 0
            transferred = {"flow": "acme-support", "outcome": "transferred"}
            assert metrics.value("engine_webhook_to_accept_seconds_count") == 2
            # Each delivery is counted once, by what it got.
            no_call = {"id": "evt_8", "type": "realtime.call.incoming", "created_at": 1}
            no_call["data"] = {}
            assert await h.sim.send_webhook(h.webhook, json.dumps(no_call).encode()) == 400
            assert await h.sim.send_webhook(h.webhook, b"{}", sign=False) == 400
            other = {"id": "evt_9", "object": "event", "type": "response.completed"}
            other |= {"created_at": int(time.time()), "data": {}}
            assert await h.sim.send_webhook(h.webhook, json.dumps(other).encode()) == 200
            assert webhooks("malformed") == 1
            assert webhooks("unverified") == 1
            assert webhooks("ignored") == 1

            call.model.call_tool("to_billing", {}, preamble="Sure, billing can help with that.")
            await call.say("I have a question about my bill.")
            assert await call.wait_ended() == "transferred"
            await h.wait_calls_over()
            assert metrics.value("engine_event_to_action_seconds_count", action="refer") == 1
            assert metrics.value("engine_live_calls") == 0
            total = sum(webhooks(o) for o in ("accepted", "rejected", "malformed", "ignored"))
            assert total + webhooks("unverified") == 5
            # Each call's record reaches the metrics: the transfer, and the caller rule's
            # rejection by its bounded reason.
            assert metrics.value("engine_calls_total", **transferred) == 1
            assert metrics.value("engine_transfers_total", flow="acme-support", result="took") == 1
            rejections = metrics.registry.get_sample_value(
                "engine_call_rejections_total", {"flow": "acme-support", "reason": "caller_rule"}
            )
            assert rejections == 1
            # The loop's lag is being sampled from the engine's start (every 0.5 s).
            await h.wait_for(
                lambda: metrics.value("engine_event_loop_lag_seconds_count") >= 1,
                3.0,
                "a sample of the event loop's lag",
            )

    asyncio.run(main())


def test_each_engine_has_its_own_registry(tmp_path):
    from engine.openai import OpenAIConfig
    from engine.server import Engine, EngineSettings

    config = OpenAIConfig(
        api_key="sk-test-metrics",
        webhook_secret="whsec_bWV0cmljcw==",
        base_url="http://127.0.0.1:9/v1",
    )
    first, second = (Engine(EngineSettings(str(tmp_path), config)) for _ in range(2))
    first.metrics.webhook("accepted")
    assert first.metrics.value("engine_webhooks_total", outcome="accepted") == 1
    assert second.metrics.value("engine_webhooks_total", outcome="accepted") == 0

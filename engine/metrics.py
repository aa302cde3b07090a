"""What the engine counts and times, for Prometheus: one registry per ``Engine``, served at
``/metrics`` in Prometheus' text format (docs/runtime.md#metrics lists every metric).

Label values are bounded, so a busy line cannot grow the number of series: outcomes, results
and reasons are fixed words (a value outside its set is counted as ``other``), ``flow`` is a
flow file's stem (``none`` for a call no flow answered) and ``tool`` a name the flow
declares. Never a phone number, a call id or anything a caller sent.

Two kinds of feed: the engine's own moments (a webhook answered, an accept sent, a REST
retry), counted where they happen and kept cheap (label children made once, up front); and
a finished ``CallRecord`` (``record_call``), from which the calls, tools and transfers an
IVR owner reads are counted once per call, off its path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .call.answer import REFUSAL_KINDS
from .records.record import CallOutcome, CallRecord

__all__ = [
    "CALL_OUTCOMES",
    "CONTENT_TYPE",
    "REJECT_REASONS",
    "REST_EVENTS",
    "TIMED_ACTIONS",
    "TOOL_RESULTS",
    "TRANSFER_RESULTS",
    "WEBHOOK_OUTCOMES",
    "Metrics",
]

log = logging.getLogger("engine.metrics")

# The `_created` series (a timestamp per counter) double the page and tell an IVR owner
# nothing a restart does not.
disable_created_metrics()

# generate_latest writes the classic text format; every name here is a legacy-valid one, so
# this is what it is, and what every Prometheus understands.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# What the engine answered each webhook delivery (docs/runtime.md#metrics says what each is).
WEBHOOK_OUTCOMES = (
    "accepted",
    "rejected",
    "duplicate",
    "ignored",
    "gone_before_accept",
    "accept_uncertain",
    "accept_refused",
    "accept_failed",
    "draining",
    "body_timeout",
    "too_large",
    "unverified",
    "malformed",
)
CALL_OUTCOMES = (*(o.value for o in CallOutcome), "unknown")  # unknown: a record without one
TOOL_RESULTS = ("ok", "failed", "timeout", "refused", "cancelled", "other")
TRANSFER_RESULTS = ("took", "failed", "no_answer", "pending", "other")
# A refusal's kind (engine/call/answer.py), or OpenAI refusing the session at accept.
REJECT_REASONS = (*sorted(REFUSAL_KINDS), "accept_refused", "other")
# Call control's retries and their ends, per action (engine/openai/rest.py's events).
REST_EVENTS = {
    "accept": ("retry", "retried_ok", "gave_up", "already_done"),
    "reject": ("retry", "retried_ok", "gave_up"),
    "refer": ("retry", "retried_ok", "gave_up", "uncertain"),
    "hangup": ("retry", "retried_ok", "gave_up", "gone"),
}
# The actions whose time from the releasing event to the REST request is measured.
TIMED_ACTIONS = ("refer", "hangup")

NO_FLOW = "none"
OTHER = "other"

# Seconds. Fine at the low end: engine time per webhook or action is sub-millisecond.
ENGINE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# An outside service answers in tens of milliseconds to its timeout's seconds.
SERVICE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# How often the event loop's lag is sampled: often enough to catch a stall worth an
# alert, rarely enough to cost nothing.
LOOP_LAG_INTERVAL_S = 0.5


def flow_label(flow_file: str | None) -> str:
    """The ``flow`` label of a flow file: its name without folder and suffix."""
    return Path(flow_file).stem if flow_file else NO_FLOW


class _Watched(Collector):
    """A counter whose value another part of the engine keeps (read at each scrape)."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.read: Callable[[], float] | None = None

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterator[Metric]:
        value = 0.0
        if self.read is not None:
            try:
                value = float(self.read())
            except Exception:  # a scrape must not fail for one number
                log.exception("%s: could not be read", self.name)
                yield CounterMetricFamily(self.name, self.documentation)
                return
        yield CounterMetricFamily(self.name, self.documentation, value=value)


class Metrics:
    """The engine's metrics, in a registry of their own (an engine per test, many per
    process). See the module docstring for what feeds them."""

    def __init__(self, *, loop_lag_interval_s: float = LOOP_LAG_INTERVAL_S) -> None:
        if not loop_lag_interval_s > 0:
            raise ValueError("loop_lag_interval_s must be a positive number of seconds")
        self.registry = CollectorRegistry(auto_describe=True)
        self.loop_lag_interval_s = loop_lag_interval_s
        self._lag_task: asyncio.Task[None] | None = None
        # Per flow stem, the tools any loaded version of it declared: the only names that
        # become a `tool` label.
        self._tools: dict[str, set[str]] = {}
        r = self.registry

        # -- the engine's own moments -----------------------------------------------------
        webhooks = Counter(
            "engine_webhooks",
            "Webhook deliveries from OpenAI, by what the engine answered.",
            ["outcome"],
            registry=r,
        )
        self._webhooks = {o: webhooks.labels(o) for o in WEBHOOK_OUTCOMES}
        rest = Counter(
            "engine_openai_rest",
            "Call-control requests to OpenAI retried, and how the retries ended.",
            ["action", "event"],
            registry=r,
        )
        self._rest = rest
        self._rest_events = {
            f"{action}_{event}": rest.labels(action, event)
            for action, events in REST_EVENTS.items()
            for event in events
        }
        self._live = Gauge("engine_live_calls", "Calls in progress on this engine now.", registry=r)
        self._webhook_to_accept = Histogram(
            "engine_webhook_to_accept_seconds",
            "Engine time from a webhook's arrival to its accept (or reject) request.",
            buckets=ENGINE_BUCKETS,
            registry=r,
        )
        event_to_action = Histogram(
            "engine_event_to_action_seconds",
            "Engine time from the event that released a transfer or hangup to its request.",
            ["action"],
            buckets=ENGINE_BUCKETS,
            registry=r,
        )
        self._event_to_action = {a: event_to_action.labels(a) for a in TIMED_ACTIONS}
        self._loop_lag = Histogram(
            "engine_event_loop_lag_seconds",
            "How late the engine's event loop ran a timer: how long any step waited.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self._dropped = _Watched(
            "engine_records_dropped",
            "Call records dropped, never written (the database was down or behind).",
        )
        r.register(self._dropped)

        # -- from finished call records -------------------------------------------------
        self._calls = Counter(
            "engine_calls",
            "Calls that ended, by flow and outcome.",
            ["flow", "outcome"],
            registry=r,
        )
        self._rejections = Counter(
            "engine_call_rejections",
            "Calls rejected, by flow and reason.",
            ["flow", "reason"],
            registry=r,
        )
        self._tool_calls = Counter(
            "engine_tool_calls",
            "Tool calls, by flow, tool and result.",
            ["flow", "tool", "result"],
            registry=r,
        )
        self._tool_seconds = Histogram(
            "engine_tool_duration_seconds",
            "How long a tool's service took to answer, by flow and tool.",
            ["flow", "tool"],
            buckets=SERVICE_BUCKETS,
            registry=r,
        )
        self._transfers = Counter(
            "engine_transfers",
            "Transfer targets tried, by flow and result.",
            ["flow", "result"],
            registry=r,
        )

    # -- the engine's own moments ------------------------------------------------------------
    def webhook(self, outcome: str) -> None:
        """One webhook delivery answered; ``outcome``: one of ``WEBHOOK_OUTCOMES``."""
        self._webhooks[outcome].inc()

    def openai_rest(self, name: str) -> None:
        """A call-control event (``accept_retry``, ``refer_uncertain``…, rest.py's names)."""
        child = self._rest_events.get(name)
        if child is None:  # a name rest.py learnt later: counted as other, never a failure
            action = name.partition("_")[0]
            child = self._rest.labels(action if action in REST_EVENTS else OTHER, OTHER)
        child.inc()

    def webhook_to_accept(self, seconds: float) -> None:
        self._webhook_to_accept.observe(seconds)

    def event_to_action(self, action: str, seconds: float) -> None:
        """``action``: ``refer`` or ``hangup`` (``TIMED_ACTIONS``)."""
        self._event_to_action[action].observe(seconds)

    def watch_live_calls(self, read: Callable[[], int]) -> None:
        """``engine_live_calls`` is ``read()`` at each scrape."""
        self._live.set_function(read)

    def watch_records_dropped(self, read: Callable[[], int]) -> None:
        """``engine_records_dropped_total`` is ``read()`` at each scrape: the store's own
        count of the records it could not keep (it only ever grows)."""
        self._dropped.read = read

    # -- the event loop ----------------------------------------------------------------------
    def start(self) -> None:
        """Start sampling the running event loop's lag (``stop`` ends it)."""
        if self._lag_task is None or self._lag_task.done():
            self._lag_task = asyncio.create_task(self._sample_loop_lag())

    async def stop(self) -> None:
        task, self._lag_task = self._lag_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sample_loop_lag(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.loop_lag_interval_s
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            self._loop_lag.observe(max(0.0, loop.time() - due))

    # -- flows and finished calls ------------------------------------------------------------
    def flow_loaded(self, flow_file: str, tools: Iterable[str]) -> None:
        """A version of ``flow_file`` now answers: its tools become ``tool`` label values,
        and its calls appear at 0 for every outcome (so a rate starts from the first)."""
        flow = flow_label(flow_file)
        self._tools.setdefault(flow, set()).update(tools)
        for outcome in CallOutcome:
            self._calls.labels(flow, outcome.value)

    def record_call(self, record: CallRecord) -> None:
        """Count one finished call from its record: the call, its rejection, its tool calls
        with their services' time, and its transfers."""
        flow = flow_label(record.flow_file)
        outcome = record.outcome.value if record.outcome is not None else "unknown"
        self._calls.labels(flow, outcome).inc()
        if record.outcome is CallOutcome.REJECTED:
            self._rejections.labels(flow, _bounded(record.reject_kind, REJECT_REASONS)).inc()
        declared = self._tools.get(flow, set())
        for tool in record.tools:
            name = tool.name if tool.name in declared else OTHER
            self._tool_calls.labels(flow, name, _bounded(tool.outcome, TOOL_RESULTS)).inc()
            if tool.duration_ms is not None:
                self._tool_seconds.labels(flow, name).observe(tool.duration_ms / 1000)
        for transfer in record.transfers:
            self._transfers.labels(flow, _bounded(transfer.result, TRANSFER_RESULTS)).inc()

    # -- reading -----------------------------------------------------------------------------
    def render(self) -> bytes:
        """The page ``/metrics`` serves, as ``CONTENT_TYPE``."""
        return generate_latest(self.registry)

    def value(self, sample: str, **labels: str) -> float:
        """One sample's value now (0 when it has none yet): ``value("engine_webhooks_total",
        outcome="accepted")``."""
        found = self.registry.get_sample_value(sample, labels)
        return 0.0 if found is None else found


def _bounded(value: str | None, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else OTHER

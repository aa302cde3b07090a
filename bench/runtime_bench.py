"""Engine time per call on loopback: webhook → accept, and completed tool call → REFER.

Starts the OpenAI simulator (immediate timing) and the engine in this process and event
loop, against the repository's ``flows/``, and places ``--calls`` calls to the Acme support
line, ``--concurrency`` at a time. Each call: the greeting is heard; the scripted model
calls ``to_billing`` (a transfer with a ``say`` line) after the caller speaks; the engine
waits until the line has been heard and sends the REFER; the call ends.

Prints p50/p95/p99/max in milliseconds of

- webhook received → accept sent: engine time (the engine's ``webhook_to_accept``
  observations) and wire to wire (the simulator's webhook POST → its accept request);
- completed tool call → REFER sent: engine time (``event_to_refer``: from the event that
  unblocked the transfer to the REFER) and wire to wire (the transfer line's
  ``output_audio_buffer.stopped`` sent → the refer request received);
- function call item sent → its output received, wire to wire: the engine acts on the item,
  not on ``response.done``; ``--response-done-delay-ms`` holds ``response.done`` back that
  long after the item (the model speaking on after the call), as the shared load
  instrument's ``response_done_delay_ms`` does;

then calls per second, the engine's CPU per call (this process's CPU over the run: the
engine's own with ``--split``, the simulator's too without), failed calls, how late the
engine's event loop ran its callbacks (a 1 ms ticker) and the garbage collector's pauses.
Memory per live call and CPU per call-minute are bench/live_calls_bench.py's. Not a test: it
prints figures. Loopback only.

    python bench/runtime_bench.py [--calls 300] [--concurrency 20] [--split] [--profile F]
        [--response-done-delay-ms 500]
    python bench/runtime_bench.py --burst 500 --split [--rest-latency-ms 20]
    python bench/runtime_bench.py --records sqlite|postgresql [--claims off]
    python bench/runtime_bench.py --studio [--records sqlite]   # the studio on and read meanwhile

``--burst N`` places N calls at once (``--calls N --concurrency N``) with patient callers
(90 s per step, webhooks answered within 60 s), as when a campaign or an outage's end sends
every caller in together: the goal is no failed call, however slow. A call fails when a
step times out, the webhook is not answered 200, the call is rejected after an accept, or a
second REFER goes out while the first still rings. ``--rest-latency-ms`` /
``--rest-latency-per-inflight-ms`` make the simulator's REST slower, the more so the more
requests are in flight (``Timing.rest_latency_s`` / ``rest_latency_per_inflight_s``).

``--records sqlite|postgresql`` keeps call records as ``engine serve`` does (a SQLite file
in a temporary folder, or a scratch database created on ``--postgres-url``'s server and
dropped after; with PostgreSQL the engine also claims each call there, as replicas do;
``--claims off`` leaves the claims out to see what they cost) and prints the records
written per second, the writer's queue depth (sampled every 10 ms), what was dropped and
how long the last flush took. Where the engine does not hand its calls' records to the
sink itself, the benchmark puts two per call (when it starts and when it ends), as the
recorder does, and says so.

``--split`` runs the simulator and the callers in a child process, so the engine's event
loop is its own (as in production) instead of shared with the simulator; wire timestamps
are ``time.monotonic()`` on both sides (CLOCK_MONOTONIC, one clock per machine).

The engine's metrics keep only histogram buckets, so this script wraps
``engine.metrics.webhook_to_accept`` and ``event_to_action`` to keep the exact samples too
(its own instrumentation; the engine is not changed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from engine.demo import DEMO_CLOCK  # noqa: E402
from engine.runner import running_engine  # noqa: E402
from engine.server import Engine, EngineSettings  # noqa: E402
from engine.simulator import Simulator, Timing  # noqa: E402
from engine.studio.settings import StudioSettings  # noqa: E402

NUMBER = "+18005551212"
TRANSFER_LINE = "connect you to billing"
CALL_TIMEOUT_S = 10.0


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def row(label: str, samples_s: list[float]) -> str:
    if not samples_s:
        return f"  {label:<34} no samples"
    ms = [s * 1000 for s in samples_s]
    figures = "  ".join(
        f"{name} {value:7.3f}"
        for name, value in (
            ("p50", percentile(ms, 50)),
            ("p95", percentile(ms, 95)),
            ("p99", percentile(ms, 99)),
            ("max", max(ms)),
        )
    )
    return f"  {label:<34} n={len(ms):<5} {figures}  ms"


@dataclass(frozen=True)
class Load:
    """How the simulated OpenAI and its callers behave in a run."""

    call_timeout_s: float = CALL_TIMEOUT_S
    webhook_timeout_s: float = 5.0
    rest_latency_s: float = 0.0
    rest_latency_per_inflight_s: float = 0.0
    response_done_delay_s: float = 0.0

    def simulator(self) -> Simulator:
        timing = Timing(
            rest_latency_s=self.rest_latency_s,
            rest_latency_per_inflight_s=self.rest_latency_per_inflight_s,
            response_done_delay_s=self.response_done_delay_s,
        )
        return Simulator(timing=timing, strict=False, webhook_timeout_s=self.webhook_timeout_s)


BURST = Load(call_timeout_s=90.0, webhook_timeout_s=60.0)


class Bench:
    def __init__(self, sim: Simulator, webhook_url: str, call_timeout_s: float = CALL_TIMEOUT_S):
        self.sim = sim
        self.webhook_url = webhook_url
        self.call_timeout_s = call_timeout_s
        self.wire_accept: list[float] = []
        self.wire_refer: list[float] = []
        self.wire_tool: list[float] = []
        self.failures: list[str] = []

    def clear(self) -> None:
        self.wire_accept.clear()
        self.wire_refer.clear()
        self.wire_tool.clear()

    async def one_call(self) -> None:
        placed = await self.sim.place_call(self.webhook_url, to=NUMBER)
        if placed.status != 200:
            delivery = placed.deliveries[-1]
            raise RuntimeError(f"webhook answered {delivery.status or delivery.error}")
        call = placed.call
        t = self.call_timeout_s
        accept = await call.wait_for_request("accept", timeout=t)
        await call.wait_connected(timeout=t)
        await call.wait_for_client_event("response.create", timeout=t)  # the greeting
        await call.wait_idle(timeout=t)
        call.model.call_tool("to_billing", {}, preamble="Sure, billing can help with that.")
        await call.say("I have a question about my bill.")
        refer = await call.wait_for_request("refer", timeout=t)
        reason = await call.wait_ended(timeout=t)
        if reason != "transferred":
            raise RuntimeError(f"call ended {reason!r}, not transferred")
        if call.requests_for("reject"):
            raise RuntimeError("rejected after an accept")
        if any("still rings" in w for w in call.warnings):
            raise RuntimeError("a second REFER while the first still rang")

        self.wire_accept.append(accept.at - placed.deliveries[0].at)
        # The transfer line: the response whose spoken text is the `say` line; its audio
        # stopping is what unblocks the REFER.
        line_ids = {
            e["response"]["id"]
            for e in call.server_events_of("response.done")
            if TRANSFER_LINE in str(e["response"].get("output"))
        }
        stopped = [
            r
            for r in call.server_events
            if r.type == "output_audio_buffer.stopped" and r.event.get("response_id") in line_ids
        ]
        if len(stopped) != 1:
            raise RuntimeError(f"expected one stop of the transfer line, got {len(stopped)}")
        self.wire_refer.append(refer.at - stopped[0].at)
        # The function call's item sent → its output received (before response.done).
        (item,) = [
            r
            for r in call.server_events
            if r.type == "response.output_item.done" and r.event["item"]["type"] == "function_call"
        ]
        call_id = item.event["item"]["call_id"]
        (output,) = [
            r
            for r in call.client_events
            if r.type == "conversation.item.create" and r.event["item"].get("call_id") == call_id
        ]
        self.wire_tool.append(output.at - item.at)

    async def worker(self, queue: asyncio.Queue[int]) -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await self.one_call()
            except Exception as exc:  # counted and reported, never hides a hang
                self.failures.append(f"{type(exc).__name__}: {exc}")


class LoopLag:
    """A 1 ms ticker on the engine's loop: how late each tick ran is how long any
    callback there (an engine step included) waited behind the others."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.001
            await asyncio.sleep(0.001)
            self.lags.append(max(0.0, loop.time() - due))

    def start(self) -> None:
        self.lags.clear()
        self._task = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class GcPauses:
    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = defaultdict(list)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def summary(self) -> str:
        parts = [
            f"gen{gen} {len(p)}× max {max(p) * 1000:.1f} ms"
            for gen, p in sorted(self.pauses.items())
        ]
        return ", ".join(parts) or "none"


class Results:
    """What one run measured."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.wire_accept: list[float] = []
        self.wire_refer: list[float] = []
        self.wire_tool: list[float] = []
        self.failures: list[str] = []
        self.cpu_s = 0.0  # this process's, over the measured run
        # The part of each engine time spent waiting for the event loop: from the
        # webhook's arrival to its answer task's first step, and from the event's arrival
        # to the driver handling it.
        self.hops: dict[str, list[float]] = defaultdict(list)
        self.elapsed = 0.0
        self.counters: dict[str, float] = {}  # call control's, at the end of the run
        self.lag = LoopLag()
        self.gc = GcPauses()
        self.records = RecordsRun("off", "", claims=True)


class RecordsRun:
    """Call records on during a run: where they go, and what the writer did."""

    def __init__(self, kind: str, postgres_url: str, claims: bool) -> None:
        self.kind = kind
        self.postgres_url = postgres_url
        self.claims = claims
        self.settings: Any = None
        self.depths: list[int] = []
        self.written = 0
        self.dropped = 0
        self.elapsed = 0.0
        self.flush_s = 0.0
        self._written_before = 0
        self._sampler: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def database(self) -> Any:
        """Yields the records settings (None: records off), on a database of this run's
        own, removed afterwards."""
        if self.kind == "off":  # nor is SQLAlchemy imported, as in an engine without records
            yield None
            return
        import tempfile

        from engine.records.settings import RecordsSettings, database_url

        if self.kind == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                url = database_url(f"sqlite:///{folder}/bench-records.db")
                self.settings = RecordsSettings(url=url, replica="bench")
                yield self.settings
            return
        import uuid

        import asyncpg

        admin = database_url(self.postgres_url)
        name = f"engine_bench_{uuid.uuid4().hex[:10]}"
        dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn, timeout=5)
        await connection.execute(f'CREATE DATABASE "{name}"')
        try:
            self.settings = RecordsSettings(url=admin.set(database=name), replica="bench")
            yield self.settings
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.close()

    def attach(self, engine: Engine) -> None:
        from engine.records.service import LocalClaims

        if not self.claims:
            engine.records.claims = LocalClaims()

    async def after_warmup(self, engine: Engine) -> None:
        writer = engine.records.writer
        if writer is None:
            return
        await wait_calls_over(engine)
        await writer.flush()
        self._written_before = writer.written

        async def sample() -> None:
            while True:
                self.depths.append(writer.queue_depth)
                await asyncio.sleep(0.01)

        self._sampler = asyncio.create_task(sample())

    async def after_run(self, engine: Engine, elapsed: float) -> None:
        writer = engine.records.writer
        if writer is None or self._sampler is None:
            return
        await wait_calls_over(engine)
        self._sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sampler
        started = time.perf_counter()
        await writer.flush()
        self.flush_s = time.perf_counter() - started
        self.written = writer.written - self._written_before
        self.dropped = writer.dropped
        self.elapsed = elapsed

    def report(self) -> list[str]:
        if self.settings is None:
            return ["records: off"]
        where = self.settings.shown_url
        claims = " (calls claimed in it)" if self.settings.shared and self.claims else ""
        who = "put by the engine"
        rate = self.written / self.elapsed if self.elapsed else 0.0
        depth = sorted(self.depths) or [0]
        return [
            f"records: {self.kind}, {where}{claims}; {who}",
            f"  written {self.written} in the run: {rate:.0f} records/s; dropped {self.dropped}",
            f"  writer queue depth: p50 {percentile(depth, 50)}, p99 {percentile(depth, 99)}, "
            f"max {max(depth)}; last flush after the run {self.flush_s * 1000:.1f} ms",
        ]


def instrumented_engine(config: Any, results: Results, records: RecordsRun | None = None) -> Engine:
    # The demo's clock (an open hour): acme-support keeps hours, and the benchmark measures
    # the open line whatever time it runs.
    settings = EngineSettings(
        flows_dir=str(REPO / "flows"),
        openai=config,
        clock=lambda: DEMO_CLOCK,
        records=records.settings if records else None,
        studio=StudioSettings(admin_token=STUDIO_TOKEN) if STUDIO_READING else None,
    )
    engine = Engine(settings, environ={"ACME_TOKEN": "bench-token"})
    if records is not None:
        records.attach(engine)
    metrics = engine.metrics
    to_accept, to_action = metrics.webhook_to_accept, metrics.event_to_action

    def webhook_to_accept(seconds: float) -> None:
        results.samples["webhook_to_accept"].append(seconds)
        to_accept(seconds)

    def event_to_action(action: str, seconds: float) -> None:
        results.samples[f"event_to_{action}"].append(seconds)
        to_action(action, seconds)

    metrics.webhook_to_accept = webhook_to_accept  # type: ignore[method-assign]
    metrics.event_to_action = event_to_action  # type: ignore[method-assign]

    answer = engine._decide_and_reply

    async def timed_answer(call: Any, received: float) -> int:
        results.hops["webhook_to_accept"].append(time.perf_counter() - received)
        return await answer(call, received)

    engine._decide_and_reply = timed_answer  # type: ignore[method-assign]
    return engine


@contextlib.contextmanager
def driver_hops(results: Results) -> Any:
    """Record, for each REFER, how long its event waited between the driver's reader and
    the driver's loop (class-level patches of this process only, undone on exit)."""
    from engine.call.driver import CallDriver
    from engine.call.machine import CallMachine

    handle, measure = CallMachine.handle, CallDriver._measure

    def timed_handle(self: Any, event: Any) -> Any:
        self._bench_handled_at = time.perf_counter()
        return handle(self, event)

    def timed_measure(self: Any, kind: str, received: float) -> None:
        handled = getattr(self.machine, "_bench_handled_at", received)
        results.hops[f"event_to_{kind}"].append(handled - received)
        measure(self, kind, received)

    CallMachine.handle = timed_handle  # type: ignore[method-assign]
    CallDriver._measure = timed_measure  # type: ignore[method-assign]
    try:
        yield
    finally:
        CallMachine.handle = handle  # type: ignore[method-assign]
        CallDriver._measure = measure  # type: ignore[method-assign]


STUDIO_TOKEN = "bench-studio-token"
STUDIO_READING = False  # --studio: the studio on, and someone reading it through the run
STUDIO_PAGES = ("/flows", "/flows/acme-support.yaml", "/calls", "/overview")


@contextlib.asynccontextmanager
async def studio_reader(url: str) -> AsyncIterator[list[int]]:
    """With --studio, a person reading studio pages one after another through the run (the
    pages are read in this process, so the engine pays for rendering them); yields the count
    of pages read. Without --studio, nothing."""
    read = [0]
    if not STUDIO_READING:
        yield read
        return
    import httpx

    async def reading() -> None:
        async with httpx.AsyncClient(base_url=url + "/studio", timeout=30) as client:
            await client.post("/sign-in", data={"token": STUDIO_TOKEN})
            while True:
                for page in STUDIO_PAGES:
                    response = await client.get(page)
                    assert response.status_code == 200, (page, response.status_code)
                    read[0] += 1

    task = asyncio.create_task(reading())
    try:
        yield read
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        print(f"studio: {read[0]} pages read during the run (flows, a flow, calls, overview)")


async def drive(bench: Bench, calls: int, concurrency: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(calls):
        queue.put_nowait(i)
    started = time.perf_counter()
    await asyncio.gather(*(bench.worker(queue) for _ in range(concurrency)))
    return time.perf_counter() - started


async def wait_calls_over(engine: Engine) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while engine.calls:
                await asyncio.sleep(0.01)


async def run_shared(calls: int, concurrency: int, results: Results, load: Load) -> None:
    """The simulator, the callers and the engine on one event loop."""
    records = results.records
    async with load.simulator() as sim, records.database():
        engine = instrumented_engine(sim.config(), results, records)
        async with running_engine(engine) as url, studio_reader(url):
            bench = Bench(sim, url + "/webhooks/openai", load.call_timeout_s)
            # One warm-up call: first-use costs (TLS contexts, imports, template
            # compilation) are not what a running engine pays per call.
            await bench.one_call()
            await records.after_warmup(engine)
            results.samples.clear()
            results.hops.clear()
            bench.clear()
            results.lag.start()
            cpu = time.process_time()
            results.elapsed = await drive(bench, calls, concurrency)
            results.cpu_s = time.process_time() - cpu
            await results.lag.stop()
            await wait_calls_over(engine)
            await records.after_run(engine, results.elapsed)
            results.counters = call_control_counts(engine)
    results.wire_accept = bench.wire_accept
    results.wire_refer = bench.wire_refer
    results.wire_tool = bench.wire_tool
    results.failures = bench.failures


def _simulator_process(conn: Any, calls: int, concurrency: int, load: Load) -> None:
    """Child of ``--split``: the simulator and the callers; the engine is in the parent."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with load.simulator() as sim:
            config = sim.config()
            conn.send(("config", (config.api_key, config.webhook_secret, config.base_url)))
            _, url = await loop.run_in_executor(None, conn.recv)
            bench = Bench(sim, url + "/webhooks/openai", load.call_timeout_s)
            await bench.one_call()
            bench.clear()
            conn.send(("warm", None))
            await loop.run_in_executor(None, conn.recv)  # the parent has reset its samples
            elapsed = await drive(bench, calls, concurrency)
            wire = (bench.wire_accept, bench.wire_refer, bench.wire_tool)
            conn.send(("done", (*wire, bench.failures, elapsed)))

    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main())


async def run_split(calls: int, concurrency: int, results: Results, load: Load) -> None:
    import multiprocessing

    from engine.openai import OpenAIConfig

    loop = asyncio.get_running_loop()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_simulator_process, args=(child, calls, concurrency, load))
    process.start()
    try:

        async def receive(expected: str) -> Any:
            ready = await loop.run_in_executor(None, parent.poll, 600)
            if not ready:
                raise TimeoutError(f"the simulator process sent no {expected!r}")
            kind, payload = parent.recv()
            assert kind == expected, (kind, expected)
            return payload

        api_key, secret, base_url = await receive("config")
        config = OpenAIConfig(api_key=api_key, webhook_secret=secret, base_url=base_url)
        records = results.records
        async with records.database():
            engine = instrumented_engine(config, results, records)
            async with running_engine(engine) as url, studio_reader(url):
                parent.send(("url", url))
                await receive("warm")
                await records.after_warmup(engine)
                results.samples.clear()
                results.hops.clear()
                results.lag.start()
                cpu = time.process_time()
                parent.send(("go", None))
                payload = await receive("done")
                results.cpu_s = time.process_time() - cpu
                await results.lag.stop()
                await wait_calls_over(engine)
                await records.after_run(engine, payload[4])
                results.counters = call_control_counts(engine)
        results.wire_accept, results.wire_refer, results.wire_tool = payload[:3]
        results.failures, results.elapsed = payload[3:]
    finally:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()


def call_control_counts(engine: Engine) -> dict[str, float]:
    """The engine's non-zero counts of call-control retries and of accepts that failed."""
    counts = {}
    for family in engine.metrics.registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.value and sample.name == "engine_openai_rest_total":
                counts[f"{labels['action']}_{labels['event']}"] = sample.value
            elif sample.value and labels.get("outcome", "").startswith("accept_"):
                counts[labels["outcome"]] = sample.value
    return counts


def own(results: Results, name: str) -> list[float]:
    """Engine time minus its wait for the loop, call by call (paired in order)."""
    totals, hops = results.samples[name], results.hops[name]
    if len(totals) != len(hops):
        return []
    return [total - hop for total, hop in zip(totals, hops, strict=True)]


def report(results: Results, calls: int, concurrency: int, split: bool, load: Load) -> int:
    ok = calls - len(results.failures)
    where = "simulator in a child process" if split else "simulator and engine on one event loop"
    held = load.response_done_delay_s * 1000
    timing = f"response.done {held:g} ms after a call's item" if held else "timing immediate"
    print(
        f"runtime bench: {calls} calls to {NUMBER}, concurrency {concurrency}, {where}, "
        f"simulator {timing}, Python {sys.version.split()[0]}"
    )
    print("(a) webhook received → accept sent")
    print(row("engine time (webhook_to_accept)", results.samples["webhook_to_accept"]))
    print(row("  of which: until the answer starts", results.hops["webhook_to_accept"]))
    print(row("  the rest (engine's own work)", own(results, "webhook_to_accept")))
    print(row("wire: webhook POST → accept req", results.wire_accept))
    print("(b) completed tool call → REFER sent")
    print(row("engine time (event_to_refer)", results.samples["event_to_refer"]))
    print(row("  of which: until the machine sees it", results.hops["event_to_refer"]))
    print(row("  the rest (engine's own work)", own(results, "event_to_refer")))
    print(row("wire: line audio stopped → refer", results.wire_refer))
    print("(c) function call item sent → its output received")
    print(row("wire: item done → function output", results.wire_tool))
    print("engine's event loop")
    print(row("lateness of a 1 ms ticker", results.lag.lags))
    print(f"  GC pauses (this process): {results.gc.summary()}")
    rate = ok / results.elapsed if results.elapsed else 0.0
    print(f"throughput: {rate:.1f} calls/s ({ok} calls in {results.elapsed:.2f} s)")
    whose = "the engine's" if split else "engine and simulator together"
    print(f"CPU per call: {results.cpu_s * 1000 / max(1, ok):.2f} ms ({whose})")
    print(f"failed calls: {len(results.failures)}")
    for line in results.records.report():
        print(line)
    if results.counters:
        control = sorted(results.counters.items())
        print("  call control: " + ", ".join(f"{k} {v:g}" for k, v in control))
    counts: dict[str, int] = defaultdict(int)
    for reason in results.failures:
        counts[reason] += 1
    for reason, count in sorted(counts.items(), key=lambda x: -x[1])[:5]:
        print(f"  {count} × {reason}")
    return 1 if results.failures else 0


def run(
    calls: int,
    concurrency: int,
    split: bool,
    load: Load | None = None,
    records: RecordsRun | None = None,
) -> int:
    import gc

    results = Results()
    if records is not None:
        results.records = records
    gc.callbacks.append(results.gc)
    try:
        with driver_hops(results):
            runner = run_split if split else run_shared
            asyncio.run(runner(calls, concurrency, results, load))
    finally:
        gc.callbacks.remove(results.gc)
    return report(results, calls, concurrency, split, load)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--split", action="store_true", help="run the simulator in a child process")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the run")
    parser.add_argument("--burst", type=int, metavar="N", help="N calls at once (max 1000)")
    parser.add_argument("--rest-latency-ms", type=float, default=0.0)
    parser.add_argument("--rest-latency-per-inflight-ms", type=float, default=0.0)
    parser.add_argument("--response-done-delay-ms", type=float, default=0.0)
    parser.add_argument("--records", choices=("off", "sqlite", "postgresql"), default="off")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a server where a scratch database may be created (for --records postgresql)",
    )
    parser.add_argument("--claims", choices=("on", "off"), default="on")
    parser.add_argument(
        "--studio",
        action="store_true",
        help="the studio on, and its pages read one after another through the run",
    )
    args = parser.parse_args(argv)
    global STUDIO_READING
    STUDIO_READING = args.studio
    records = RecordsRun(args.records, args.postgres_url, claims=args.claims == "on")
    load = BURST if args.burst else Load()
    if args.burst:
        if not 1 <= args.burst <= 1000:
            parser.error("--burst must be 1 to 1000")
        args.calls = args.concurrency = args.burst
    if args.calls < 1 or args.concurrency < 1:
        parser.error("--calls and --concurrency must be at least 1")
    if args.rest_latency_ms < 0 or args.rest_latency_per_inflight_ms < 0:
        parser.error("REST latencies must not be negative")
    if args.response_done_delay_ms < 0:
        parser.error("--response-done-delay-ms must not be negative")
    load = replace(
        load,
        rest_latency_s=args.rest_latency_ms / 1000,
        rest_latency_per_inflight_s=args.rest_latency_per_inflight_ms / 1000,
        response_done_delay_s=args.response_done_delay_ms / 1000,
    )
    logging.basicConfig(level=logging.ERROR)
    if not args.profile:
        return run(args.calls, args.concurrency, args.split, load, records)
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    status = profiler.runcall(run, args.calls, args.concurrency, args.split, load, records)
    profiler.dump_stats(args.profile)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return status


if __name__ == "__main__":
    sys.exit(main())

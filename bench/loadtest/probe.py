"""``engine serve`` with a probe in it: garbage-collector pauses, event-loop stalls and CPU,
written as JSON when the process exits (``ENGINE_PROBE_OUT``). Figures that hold on a busy
machine, where wall-clock latencies move with the neighbours' load.

    ENGINE_PROBE_OUT=/tmp/probe.json PYTHONPATH=. python bench/loadtest/probe.py FLOWS_DIR \
        --port 3471

Arguments are ``engine serve``'s; the engine is the one on ``PYTHONPATH``. What it counts,
from the end of the engine's start-up to its drain (SIGTERM):

- ``gc``: per generation, collections, their total and longest pause (``gc.callbacks``);
- ``lag``: the loop's lag sampled every 5 ms (how late a due timer ran: the queue of ready
  work plus any one step that blocks), as percentiles and counts over 10 / 50 ms;
- ``steps`` (with ``ENGINE_PROBE_STEPS=1``, which costs about a microsecond a step): every
  step of the loop that ran for 5 ms or more, counted, and the slowest, by what they ran;
- ``cpu_s``: the process's user+system CPU.

``ENGINE_PROBE_PROFILE=FILE`` also profiles the engine from then on (cProfile, which slows
it down) and writes the stats there at exit (``python -m pstats FILE``).

Not a test, no assertion: bench/loadtest/compare.py --probe prints the figures.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

LAG_EVERY_S = 0.005
SLOW_STEP_S = 0.005


class Probe:
    def __init__(self) -> None:
        self.counting = False
        self.gc: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._gc_started = 0.0
        self.lags: list[float] = []
        self.slow_steps: Counter[str] = Counter()
        self.slowest: list[tuple[float, str]] = []
        self.cpu0 = 0.0
        self.t0 = 0.0
        self.ended: tuple[float, float] | None = None  # (seconds, CPU seconds) at the drain

    def begin(self) -> None:
        self.counting = True
        self.cpu0 = _cpu()
        self.t0 = time.monotonic()

    def end(self) -> None:
        if self.counting and self.ended is None:
            self.ended = (time.monotonic() - self.t0, _cpu() - self.cpu0)
            self.counting = False

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self.counting:
            self.gc[info["generation"]].append(time.perf_counter() - self._gc_started)

    async def sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_EVERY_S
            await asyncio.sleep(LAG_EVERY_S)
            if self.counting:
                self.lags.append(max(0.0, loop.time() - due))

    def step(self, took: float, what: str) -> None:
        if not self.counting:
            return
        self.slow_steps[what] += 1
        self.slowest.append((took, what))
        if len(self.slowest) > 200:
            self.slowest = sorted(self.slowest, reverse=True)[:20]

    def report(self) -> dict[str, object]:
        lags = sorted(self.lags)

        def pct(p: float) -> float:
            return round(lags[min(len(lags) - 1, int(p * len(lags)))] * 1000, 2) if lags else 0.0

        self.end()
        assert self.ended is not None
        return {
            "seconds": round(self.ended[0], 2),
            "cpu_s": round(self.ended[1], 3),
            "gc": {
                str(g): {
                    "count": len(d),
                    "total_ms": round(sum(d) * 1000, 1),
                    "max_ms": round(max(d, default=0.0) * 1000, 1),
                }
                for g, d in self.gc.items()
            },
            "lag": {
                "samples": len(lags),
                "p50_ms": pct(0.5),
                "p99_ms": pct(0.99),
                "max_ms": round(lags[-1] * 1000, 1) if lags else 0.0,
                "over_10ms": sum(1 for v in lags if v >= 0.010),
                "over_50ms": sum(1 for v in lags if v >= 0.050),
            },
            "steps": {
                "over_5ms": sum(self.slow_steps.values()),
                "by_what": self.slow_steps.most_common(12),
                "slowest_ms": [
                    (round(t * 1000, 1), w) for t, w in sorted(self.slowest, reverse=True)[:12]
                ],
            },
        }


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _name(handle: asyncio.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        where = f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}" if frame else ""
        return f"task {getattr(coro, '__qualname__', coro)} {where}"
    return getattr(callback, "__qualname__", repr(callback))


def install(probe: Probe) -> None:
    gc.callbacks.append(probe.on_gc)
    if os.environ.get("ENGINE_PROBE_STEPS") == "1":
        run = asyncio.events.Handle._run

        def timed(self: asyncio.Handle) -> None:
            started = time.perf_counter()
            what = _name(self)  # before: a task's frame moves on while it runs
            run(self)
            took = time.perf_counter() - started
            if took >= SLOW_STEP_S:
                probe.step(took, what)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    from engine.server import Engine

    start = Engine.start

    profile = os.environ.get("ENGINE_PROBE_PROFILE")
    profiler = None

    async def started(self: Engine) -> None:
        nonlocal profiler
        await start(self)
        self._probe_lag = asyncio.create_task(probe.sample_lag())  # type: ignore[attr-defined]
        probe.begin()
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()

    Engine.start = started  # type: ignore[method-assign]
    drain = Engine.drain

    async def draining(self: Engine, timeout_s: float) -> None:
        probe.end()  # the figures are the load's, not the shutdown's
        await drain(self, timeout_s)

    Engine.drain = draining  # type: ignore[method-assign]

    def write() -> None:
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        out = os.environ.get("ENGINE_PROBE_OUT")
        if out and probe.t0:
            Path(out).write_text(json.dumps(probe.report(), indent=1))

    atexit.register(write)


def main() -> int:
    threshold = os.environ.get("ENGINE_PROBE_GC_THRESHOLD")  # "g0,g1,g2": to try another
    if threshold:
        gc.set_threshold(*(int(n) for n in threshold.split(",")))
    probe = Probe()
    install(probe)
    from engine.cli import main as cli

    return cli(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())

"""Memory per live call and CPU per call-minute: the engine beside the bare floor.

Starts the OpenAI simulator in this process and each controller in a process of its own:
``engine serve`` of this checkout (flow ``bench/loadtest/line.yaml``) and, as the floor, the
shared load instrument's ``ref_controller.py`` (a controller with no features; needs the
instrument's venv, see bench/loadtest/compare.py). For each it places ``--calls`` calls and
keeps them all up, then prints

- memory per live call: the controller's RSS (its process tree) with every call up (greeting
  heard, sideband open) minus its RSS before them (warm-up calls come and go first), over
  ``--calls``;
- CPU per call-minute: the controller's CPU (user+sys, its process tree) while
  ``--stream-calls`` of those calls each receive ``--events-per-s`` server events a second for
  ``--seconds``, per streaming call and minute; beside it the CPU of an equally long quiet
  window with the same calls up (timers, keep-alive pings), and the cost of one event.

The events streamed are what a call in conversation receives most of: the agent's transcript
deltas, the caller's transcription deltas and rate-limit updates (over SIP the audio itself
goes to the media path, not the sideband). Loopback only; every process started is stopped.
Not a test: it prints figures.

    python bench/live_calls_bench.py [--calls 500] [--stream-calls 100] [--events-per-s 30]
        [--seconds 20] [--only engine|floor]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from engine.simulator import SimCall, Simulator  # noqa: E402

NUMBER = "+18005551212"
# ../shared/loadtest beside the checkout (or beside the folder of worktrees it is in), as
# bench/loadtest/compare.py finds it.
_BESIDE = [up / "shared" / "loadtest" for up in REPO.parents]
LOADTEST = Path(
    os.environ.get("LOADTEST_DIR") or next((p for p in _BESIDE if p.is_dir()), _BESIDE[0])
)
VENV_PYTHON = os.environ.get("LOADTEST_PYTHON", "/tmp/loadtest-venv/bin/python")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
STEP_TIMEOUT_S = 60.0


# -- the controller's process tree, read from /proc ----------------------------------------------
def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo += [int(p) for p in f.read().split()]
    return pids


def cpu_s(pid: int) -> float:
    """User+system CPU seconds of the process and its descendants."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_kb(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/statm") as f:
            total += int(f.read().split()[1]) * PAGE_KB
    return total


# -- the controllers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command_for(name: str, port: int) -> tuple[list[str], str, str]:
    """(argv, working directory, webhook path) of a controller."""
    if name == "engine":
        argv = [sys.executable, "-m", "engine", "serve", str(REPO / "bench" / "loadtest")]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--log-format", "json"]
        return argv, str(REPO), "/webhooks/openai"
    argv = [VENV_PYTHON, str(LOADTEST / "ref_controller.py"), "--port", str(port)]
    return argv, str(LOADTEST), "/webhook"


@contextlib.asynccontextmanager
async def controller(name: str, sim: Simulator, log: Path) -> AsyncIterator[tuple[int, str]]:
    """Run one controller against the simulator; yields (pid, webhook URL)."""
    port = free_port()
    argv, cwd, path = command_for(name, port)
    config = sim.config()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OPENAI_API_KEY": config.api_key,
        "OPENAI_WEBHOOK_SECRET": config.webhook_secret,
        "OPENAI_BASE_URL": config.base_url,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not listen on {port}; see {log}")
            await asyncio.sleep(0.1)
        yield proc.pid, f"http://127.0.0.1:{port}{path}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 5)


# -- the calls ---------------------------------------------------------------------------------------
async def answered(sim: Simulator, url: str) -> SimCall:
    placed = await sim.place_call(url, to=NUMBER)
    if placed.status != 200:
        delivery = placed.deliveries[-1]
        raise RuntimeError(f"webhook answered {delivery.status or delivery.error}")
    call = placed.call
    await call.wait_connected(timeout=STEP_TIMEOUT_S)
    await call.wait_for_client_event("response.create", timeout=STEP_TIMEOUT_S)
    await call.wait_idle(timeout=STEP_TIMEOUT_S)
    return call


async def place(sim: Simulator, url: str, n: int, at_once: int = 25) -> list[SimCall]:
    gate = asyncio.Semaphore(at_once)

    async def one() -> SimCall:
        async with gate:
            return await answered(sim, url)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def hang_up(calls: list[SimCall]) -> None:
    for call in calls:
        if not call.ended:
            await call.hang_up()


def conversation(index: int) -> list[dict[str, Any]]:
    """One cycle of what a call in conversation receives, ten events."""
    rid, item, user = f"resp_live{index}", f"item_live{index}", f"item_user{index}"
    delta = {
        "type": "response.output_audio_transcript.delta",
        "event_id": f"event_live{index}",
        "response_id": rid,
        "item_id": item,
        "output_index": 0,
        "content_index": 0,
        "delta": " and then",
    }
    heard = {
        "type": "conversation.item.input_audio_transcription.delta",
        "event_id": f"event_heard{index}",
        "item_id": user,
        "content_index": 0,
        "delta": " my order",
    }
    limits = {
        "type": "rate_limits.updated",
        "event_id": f"event_limits{index}",
        "rate_limits": [
            {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
            {"name": "tokens", "limit": 800000, "remaining": 795000, "reset_seconds": 0.3},
        ],
    }
    return [delta] * 8 + [heard, limits]


async def stream(calls: list[SimCall], per_s: float, seconds: float) -> int:
    """Each call gets ``per_s`` events a second, evenly spaced, for ``seconds``; returns how
    many were sent (fewer when this process could not keep up)."""
    cycles = [conversation(i) for i in range(len(calls))]
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent, tick = 0, 0
    while loop.time() - start < seconds:
        for call, cycle in zip(calls, cycles, strict=True):
            if not call.ended:
                call.emit(cycle[tick % len(cycle)])
                sent += 1
        tick += 1
        await asyncio.sleep(max(0.0, start + tick / per_s - loop.time()))
    return sent


@dataclass
class Figures:
    name: str
    calls: int
    rss_before_kb: int = 0
    rss_live_kb: int = 0
    quiet_cpu_s: float = 0.0
    stream_cpu_s: float = 0.0
    events: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def kb_per_call(self) -> float:
        return (self.rss_live_kb - self.rss_before_kb) / self.calls


async def measure(name: str, args: argparse.Namespace, log: Path) -> Figures:
    figures = Figures(name, args.calls)
    sim = Simulator(strict=False, webhook_timeout_s=STEP_TIMEOUT_S)
    async with sim, controller(name, sim, log) as (pid, url):
        # Warm-up: first-use costs (imports, TLS contexts, templates) are not per call.
        warm = await place(sim, url, 5)
        await hang_up(warm)
        await asyncio.sleep(1.0)  # the controller lets them go
        figures.rss_before_kb = rss_kb(pid)
        try:
            calls = await place(sim, url, args.calls)
        except Exception as exc:  # reported, never hidden
            figures.failures.append(f"{type(exc).__name__}: {exc}")
            return figures
        await asyncio.sleep(1.0)
        figures.rss_live_kb = rss_kb(pid)
        streaming = calls[: args.stream_calls]
        before = cpu_s(pid)
        await asyncio.sleep(args.seconds)
        figures.quiet_cpu_s = cpu_s(pid) - before
        before = cpu_s(pid)
        figures.events = await stream(streaming, args.events_per_s, args.seconds)
        figures.stream_cpu_s = cpu_s(pid) - before
        ended = [c for c in calls if c.ended]
        if ended:
            figures.failures.append(f"{len(ended)} calls ended while they should be up")
        await hang_up(calls)
    return figures


def report(results: list[Figures], args: argparse.Namespace) -> None:
    call_minutes = args.stream_calls * args.seconds / 60
    print(
        f"live calls bench: {args.calls} calls up at once; {args.stream_calls} of them receive "
        f"{args.events_per_s:g} server events a second for {args.seconds:g} s; "
        f"Python {sys.version.split()[0]}"
    )
    print(
        "| controller | memory per live call | RSS before → with the calls up "
        "| CPU per call-minute, events streaming | quiet | per event | events/s per call |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for f in results:
        if f.failures:
            print(f"| {f.name} | failed: {'; '.join(f.failures)} | | | | | |")
            continue
        rate = f.events / args.stream_calls / args.seconds
        per_event = (f.stream_cpu_s - f.quiet_cpu_s) / max(1, f.events) * 1e6
        print(
            f"| {f.name} | {f.kb_per_call:.0f} KB "
            f"| {f.rss_before_kb / 1024:.1f} → {f.rss_live_kb / 1024:.1f} MiB "
            f"| {f.stream_cpu_s * 1000 / call_minutes:.0f} ms "
            f"| {f.quiet_cpu_s * 1000 / call_minutes:.0f} ms "
            f"| {per_event:.0f} µs | {rate:.1f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--stream-calls", type=int, default=100)
    parser.add_argument("--events-per-s", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", choices=("engine", "floor"))
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 1000 or not 0 < args.stream_calls <= args.calls:
        parser.error("--calls must be 1 to 1000, --stream-calls 1 to --calls")
    if args.events_per_s <= 0 or args.seconds <= 0:
        parser.error("--events-per-s and --seconds must be positive")
    names = [args.only] if args.only else ["floor", "engine"]
    if "floor" in names and not Path(VENV_PYTHON).exists():
        print(f"(no floor: {VENV_PYTHON} is missing)", file=sys.stderr)
        names.remove("floor")
    logging.basicConfig(level=logging.ERROR)
    results = []
    with tempfile.TemporaryDirectory(prefix="live-calls-bench-") as logs:
        for name in names:
            results.append(asyncio.run(measure(name, args, Path(logs) / f"{name}.log")))
    report(results, args)
    return 1 if any(f.failures for f in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Runtime harness: the simulator and the engine on loopback, against a temporary flows folder.

Tests are plain functions that call ``asyncio.run``; each builds its world with ``harness``::

    def test_x(tmp_path):
        async def main():
            async with harness(tmp_path, flows={"a.yaml": FLOW}) as h:
                placed = await h.place(to="+18005550001")
        asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import socket
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.records.memory import RecentRecords
from engine.records.record import CallRecord
from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import PlacedCall, SimCall, Simulator

REPO_FLOWS = Path(__file__).resolve().parents[2] / "flows"
# Tuesday 3 March 2026, 10:00 in New York: every example flow is open. Calls in these tests
# would otherwise meet acme-support's closed hours at night; tests of the hours set their own.
OPEN_HOURS = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@dataclass
class Harness:
    sim: Simulator
    engine: Engine
    url: str
    flows_dir: Path
    http: httpx.AsyncClient

    @property
    def webhook(self) -> str:
        return self.url + "/webhooks/openai"

    async def place(self, to: str = "+18005551212", **kwargs: Any) -> PlacedCall:
        return await self.sim.place_call(self.webhook, to=to, **kwargs)

    async def answered(self, to: str = "+18005551212", **kwargs: Any) -> SimCall:
        """Place a call, expect it accepted, and wait until the greeting has been heard."""
        placed = await self.place(to, **kwargs)
        assert placed.status == 200, placed.deliveries
        call = placed.call
        await call.wait_connected()
        await call.wait_for_client_event("response.create")
        await call.wait_idle()
        return call

    def write_flow(self, name: str, text: str) -> Path:
        path = self.flows_dir / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    wait_for = staticmethod(lambda *a, **k: wait_for(*a, **k))

    async def wait_calls_over(self, timeout: float = 3.0) -> None:
        await wait_for(lambda: not self.engine.calls, timeout, "engine.calls to empty")

    def rest_requests(self) -> list[Any]:
        return list(self.sim.requests) + [r for c in self.sim.calls.values() for r in c.requests]

    async def record(self, call_id: str, timeout: float = 3.0) -> CallRecord:
        """The call's record, once the engine has finished it (the default sink keeps it)."""
        sink = self.engine.record_sink
        assert isinstance(sink, RecentRecords)
        return await wait_for(lambda: sink.get(call_id), timeout, f"the record of {call_id}")


async def wait_for(predicate: Callable[[], Any], timeout: float = 3.0, what: str = "") -> Any:
    """Poll a condition of the engine (which has no waiters of its own), bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def harness(
    tmp_path: Path,
    *,
    flows: dict[str, str] | None = None,
    repo_flows: bool = False,
    environ: dict[str, str] | None = None,
    simulator: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[Harness]:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    if repo_flows:
        for path in REPO_FLOWS.glob("*.yaml"):
            shutil.copy(path, folder / path.name)
    for name, text in (flows or {}).items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    settings.setdefault("reload_interval_s", 0.1)
    settings.setdefault("clock", lambda: OPEN_HOURS)
    settings.setdefault("drain_timeout_s", 2.0)
    async with Simulator(**(simulator or {})) as sim:
        engine = Engine(
            EngineSettings(flows_dir=str(folder), openai=sim.config(), **settings),
            environ=environ if environ is not None else {"ACME_TOKEN": "t"},
        )
        async with running_engine(engine) as url, httpx.AsyncClient(trust_env=False) as http:
            try:
                yield Harness(sim, engine, url, folder, http)
            finally:
                # Callers hang up, so the engine's drain on stop has nothing to wait for.
                for call in list(sim.calls.values()):
                    if not call.ended:
                        await call.hang_up()
                with contextlib.suppress(TimeoutError):
                    await wait_for(lambda: not engine.calls, 2.0, "calls to end")


@pytest.fixture
def rt(tmp_path: Path) -> Callable[..., contextlib.AbstractAsyncContextManager[Harness]]:
    """``async with rt(flows={...}) as h:`` — a harness on this test's temporary folder."""
    return functools.partial(harness, tmp_path)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Run an ASGI app (an outside service a tool calls) on a free loopback port; yields its
    base URL, and stops it on the way out."""
    import uvicorn  # only the tests that need an outside service pay for it

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
        sock.close()


@pytest.fixture
def serve() -> Callable[[Any], contextlib.AbstractAsyncContextManager[str]]:
    """``async with serve(app) as base_url:`` — an outside HTTP service on loopback."""
    return serving

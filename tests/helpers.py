"""Helpers every test folder shares (``from helpers import …``; pyproject puts tests/ on the
path). Fixtures are in tests/conftest.py; these are plain functions.

- ``run``: a coroutine on a fresh event loop, bounded.
- ``run_virtual``: the same on a loop whose clock jumps to the next timer whenever nothing
  is ready, for code that waits on timers alone (no sockets): budgets of seconds or minutes
  are played out at once, and a test can read exactly when something happened.
- ``wait_for``: poll a condition (of the engine, which has no waiters of its own), bounded.
- ``serving``: an ASGI app (an outside service) on a loopback port.
- ``free_port`` / ``refused_port``: a loopback port for a child to listen on, and one that
  refuses connections for as long as it is held.
- ``engine_cli``: ``engine …`` run in this process: exit code, stdout, stderr.
- ``tool_outputs``: what the model was told of its tool calls on a simulated call.
- ``greeted`` / ``tool_turn``: a ``CallMachine`` past its greeting, and one response of the
  model that calls tools (pure transitions, no sockets).
- ``outlast_a_transfer``: return once a transfer asked for now has taken its call, so a
  refer made before it that did not end its call never will (no sleep needed to show it).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import selectors
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = [
    "VirtualClockLoop",
    "engine_cli",
    "free_port",
    "outlast_a_transfer",
    "refused_port",
    "run",
    "run_virtual",
    "serving",
    "tool_outputs",
    "wait_for",
]


def run(coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
    """Run ``coro`` on a new event loop; a hang fails the test after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class _JumpingSelector(selectors.DefaultSelector):
    """Never waits: when nothing is ready, the loop's clock moves on by the wait asked for."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            # Nothing scheduled and nothing ready: a real loop would wait forever.
            raise RuntimeError("deadlock: nothing to run and no timer to wait for")
        self._loop.advance(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` starts at 0 and moves only when every task waits on a
    timer: ``asyncio.sleep(30)`` returns at once, with ``loop.time()`` 30 s later. Only for
    code that does no real I/O (an ``httpx.MockTransport`` is fine)."""

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a ``VirtualClockLoop``."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(coro)


async def wait_for(
    predicate: Callable[[], Any], timeout: float = 3.0, what: str = "", interval: float = 0.01
) -> Any:
    """Poll ``predicate`` (a function, or one returning an awaitable) until it returns
    something true, and return that; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Run an ASGI app (an outside service a tool calls) on a free loopback port; yields its
    base URL (``http://127.0.0.1:PORT``), and stops it on the way out."""
    import uvicorn  # only the tests that need an outside service pay for it

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises why it did not start
        await asyncio.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
        sock.close()


def free_port() -> int:
    """A loopback port nothing listens on now, for a child process to listen on. (Another
    process could take it before the child does; use ``refused_port`` for a port that must
    stay closed.)"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses every connection while the block runs: it is bound (so
    nothing else can listen on it) but not listening, so a connect is answered with a reset."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def engine_cli(*argv: str) -> tuple[int, str, str]:
    """``engine ARGV`` in this process: exit code, stdout and stderr."""
    from engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse's own usage errors
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def tool_outputs(call: Any) -> list[dict[str, Any]]:
    """What the model was told on this simulated call, one ``function_call_output`` (parsed)
    after another."""
    return [
        json.loads(e["item"]["output"])
        for e in call.client_events_of("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]


async def outlast_a_transfer(sim: Any, target: str = "tel:+18005550199") -> None:
    """Transfer a control call of simulator ``sim`` and wait until it has left. The
    simulator ends a transferred call on a loop timer set when its refer is answered, and
    timers fire in order: so once this returns, any refer answered before it (without a
    longer ``refer_ring_s``) has ended its call if it ever will. ``target`` must not be one
    the simulator's own faults make vanish."""
    import httpx

    from engine.openai import CallControl

    control = sim.new_call()
    async with httpx.AsyncClient(trust_env=False) as http:
        calls = CallControl(http, sim.config())
        await calls.accept(control.call_id, {"type": "realtime"})
        await calls.refer(control.call_id, target)
    assert await control.wait_ended(timeout=5) == "transferred"


# -- the call machine, as pure transitions ------------------------------------------------
def greeted(m: Any) -> Any:
    """``m`` (a ``CallMachine``) with its greeting asked, started and finished."""
    from engine.call.actions import RequestResponse
    from engine.call.events import ResponseFinished, ResponseStarted, SessionStarted

    (greet,) = [a for a in m.handle(SessionStarted()) if isinstance(a, RequestResponse)]
    m.handle(ResponseStarted("resp_g", greet.request))
    m.handle(ResponseFinished("resp_g", "completed"))
    return m


def tool_turn(m: Any, rid: str, *calls: tuple[str, str, str], status: str = "completed") -> list:
    """A response that calls tools; every action of its items and of its end, in order.
    Each call starts on its item, but nothing asks for a response while this one runs."""
    from engine.call.actions import RequestResponse
    from engine.call.events import ResponseFinished, ResponseStarted, ToolCallRequested

    m.handle(ResponseStarted(rid))
    actions: list = []
    for call_id, name, args in calls:
        on_item = m.handle(ToolCallRequested(rid, call_id, name, args))
        assert not [a for a in on_item if isinstance(a, RequestResponse)], on_item
        actions += on_item
    return actions + m.handle(ResponseFinished(rid, status))

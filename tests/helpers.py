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
- ``tool_outputs`` / ``said`` / ``hears``: what the model was told of its tool calls on a
  simulated call, what the agent said in the responses the engine asked for, and a wait
  until it has said a line.
- the call machine as pure transitions (no sockets): ``IVR`` (a flow with every IVR
  behaviour), ``flow_of``, ``machine``, ``started`` / ``greeted`` (past its greeting, heard
  or not), ``asks``, ``heard``, ``play`` (one of our requests run to the end) and
  ``tool_turn`` (one response of the model that calls tools).
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
import textwrap
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from engine.call.actions import CancelTimer, RequestResponse, StartTimer
from engine.call.events import (
    AudioStarted,
    AudioStopped,
    ResponseFinished,
    ResponseStarted,
    SessionStarted,
    ToolCallRequested,
)
from engine.call.machine import CallMachine
from engine.call.timers import Timer
from engine.flow.model import Flow
from engine.flow.source import load_source

T = TypeVar("T")

__all__ = [
    "IVR",
    "VirtualClockLoop",
    "asks",
    "engine_cli",
    "flow_of",
    "free_port",
    "greeted",
    "heard",
    "hears",
    "machine",
    "outlast_a_transfer",
    "play",
    "refused_port",
    "run",
    "run_virtual",
    "said",
    "serving",
    "started",
    "tool_outputs",
    "tool_turn",
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

    from engine.runner import listening_socket

    sock = listening_socket("127.0.0.1", 0)  # TCP_NODELAY on its connections
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


def said(call: Any) -> list[str]:
    """What the agent said in the responses the engine asked for, in order (a request sent
    again after a collision counts once: it is one response on the server)."""
    ours = {
        e["response"]["id"]
        for e in call.server_events_of("response.created")
        if (e["response"].get("metadata") or {}).get("engine_request")
    }
    return [
        e["transcript"]
        for e in call.server_events_of("response.output_audio_transcript.done")
        if e["response_id"] in ours
    ]


async def hears(call: Any, line: str, count: int = 1) -> None:
    """Wait until the agent has said ``line`` (``count`` times) and gone quiet."""
    await call.wait_until(
        lambda: said(call).count(line) >= count, what=f"the agent to say {line!r}"
    )
    await call.wait_idle()


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
# A flow with every IVR behaviour the machine has: keypad, digits, silence, transfers with a
# fallback, limits, fillers, a global tool (tests/call/).
IVR = """\
name: IVR
numbers: ["+18005550009"]
instructions: Base.
greeting: Welcome.
global_tools: [operator]
keypad: {"0": operator}
silence:
  after: 6
  steps:
    - say: Are you still there?
    - instructions: Ask again in simpler words.
    - say: Goodbye for now.
      hangup: true
trunk: {carrier: wavix, region: us, transfer_wait: 12}
limits: {call_minutes: 10, warn_minutes: 2, tool_calls: 3, tool_failures: 2}
lines: {transfer_retry: Trying the next line., transfer_failed: "No luck, sorry."}
start: menu
states:
  menu:
    tools: [balance, cards]
    keypad: {"1": balance, "2": cards}
  cards:
    instructions: Cards.
    tools: [lookup]
    silence:
      after: 10
      steps: [{say: Still there?}]
  account:
    tools: []
    collect:
      save_as: account
      digits: 4
      min_digits: 3
      then: check
tools:
  balance:
    description: Read the balance.
    say: Your balance is ten dollars.
  cards:
    description: Card services.
    goto: cards
  check:
    description: Check the account.
    http: {url: "https://bank.example/accounts/{{ saved.account }}"}
  lookup:
    description: Look something up.
    parameters: {id: {type: string}}
    http: {url: "https://bank.example/x/{{ args.id }}", timeout: 8}
    filler: {say: One moment please., after: 2}
  operator:
    description: Talk to a person.
    say: Connecting you.
    transfer: ["+15551230000", "sip:desk@pbx.example"]
    fallback: {say: Nobody is free., goto: menu}
"""


def flow_of(text: str) -> Flow:
    """A flow from its YAML (dedented), as the loader reads it."""
    doc = load_source("unit.yaml", textwrap.dedent(text))
    return Flow.model_validate(doc.data)


def machine(text: str = IVR, **kwargs: Any) -> CallMachine:
    """A ``CallMachine`` for the flow ``text`` (``IVR`` unless given), not yet started."""
    return CallMachine(flow_of(text), {"caller": {"number": "+14155550100"}}, **kwargs)


def asks(actions: list) -> list[RequestResponse]:
    """The responses asked for among ``actions``."""
    return [a for a in actions if isinstance(a, RequestResponse)]


def heard(actions: list) -> list:
    """The actions without the bookkeeping of waiting for a requested response to start."""
    return [
        a
        for a in actions
        if not (isinstance(a, StartTimer | CancelTimer) and a.name == Timer.REQUEST)
    ]


def play(m: CallMachine, rid: str, ask: RequestResponse, *, heard: bool = True) -> list:
    """The server runs one of our requests to the end (its audio heard, unless ``heard`` is
    False); returns what the machine did."""
    out = m.handle(ResponseStarted(rid, ask.request))
    out += m.handle(AudioStarted(rid))
    out += m.handle(ResponseFinished(rid, "completed"))
    if heard:
        out += m.handle(AudioStopped(rid))
    return out


def started(m: CallMachine) -> CallMachine:
    """``m`` with its greeting asked, played and heard."""
    (greet,) = asks(m.handle(SessionStarted()))
    play(m, "resp_g", greet)
    return m


def greeted(m: CallMachine) -> CallMachine:
    """``m`` with its greeting asked, started and finished (no audio reported)."""
    (greet,) = asks(m.handle(SessionStarted()))
    m.handle(ResponseStarted("resp_g", greet.request))
    m.handle(ResponseFinished("resp_g", "completed"))
    return m


def tool_turn(
    m: CallMachine, rid: str, *calls: tuple[str, str, str], status: str = "completed"
) -> list:
    """A response that calls tools; every action of its items and of its end, in order.
    Each call starts on its item, but nothing asks for a response while this one runs."""
    m.handle(ResponseStarted(rid))
    actions: list = []
    for call_id, name, args in calls:
        on_item = m.handle(ToolCallRequested(rid, call_id, name, args))
        assert not asks(on_item), on_item
        actions += on_item
    return actions + m.handle(ResponseFinished(rid, status))

"""``POST /studio/flows/FILE/test-call``: a call to the flow through the built-in simulator
(``engine studio`` only), the caller saying the lines typed, one per line.

The simulated phone rings one of the flow's numbers: the engine answers it as any call (a
signed webhook, the flow live now, its record written). The simulated model says what the
flow asks it to say and, to the caller's words, its default reply. The call is hung up
after the last line (if the flow has not ended it), its record written, and the answer
links to the call's page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .context import Studio
from .forms import read_form
from .guards import changes
from .render import render, root_of

if TYPE_CHECKING:
    from ..simulator import SimCall, Simulator

__all__ = ["TestCall", "place_test_call", "routes"]

log = logging.getLogger("engine.studio")

CALL_TIMEOUT_S = 20.0  # the whole call, from ringing to its record written
STEP_TIMEOUT_S = 5.0  # one turn: the agent's answer to a line
MAX_LINES = 20
MAX_LINE = 500
TEST_CALLER = "+15550100199"  # who calls: a number kept for fiction


@dataclass(frozen=True)
class TestCall:
    number: str | None = None  # the number dialled
    call_id: str | None = None  # set when the call was placed
    problem: str | None = None  # why no call was placed, or what went wrong


def read_lines(text: str) -> list[str]:
    lines = [line.strip()[:MAX_LINE] for line in text.splitlines()]
    return [line for line in lines if line][:MAX_LINES]


def number_for(studio: Studio, name: str) -> tuple[str | None, str | None]:
    """A number that reaches the flow file ``name`` now, or None and why not."""
    snapshot = studio.engine.registry.snapshot
    live = [s for path, s in snapshot.flows.items() if studio.files.name(path) == name]
    if not live:
        return None, (
            "This flow is not answering calls: it has errors (see its problems), so no "
            "version of it is live. Fix it and save, then place the test call."
        )
    snap = live[0]
    own = [n for n in snap.flow.numbers if "*" not in n and snapshot.by_number.get(n) is snap]
    if own:
        return own[0], None
    if snapshot.catch_all is snap or "*" in snap.flow.numbers:
        return None, (
            'This flow has no number of its own: it is the catch-all ("*", the numbers no '
            "other flow answers), so a test call cannot be aimed at it. Give it a number, or "
            "test it with its scenarios."
        )
    return None, "Every number of this flow is answered by another flow; none reaches it."


async def _turn_done(call: SimCall, before: int) -> None:
    """Until the agent has answered (a response finished after ``before`` of them) and is
    quiet, or the call ended: at most STEP_TIMEOUT_S."""
    with contextlib.suppress(TimeoutError):
        await call.wait_until(
            lambda: call.ended or len(call.server_events_of("response.done")) > before,
            timeout=STEP_TIMEOUT_S,
            what="the agent's answer",
        )
        if not call.ended:
            await call.wait_until(
                lambda: call.ended or not (call.response_active or call.playing),
                timeout=STEP_TIMEOUT_S,
                what="the agent quiet",
            )


async def _converse(call: SimCall, lines: list[str]) -> None:
    await call.wait_until(lambda: call.accepted or call.ended, timeout=STEP_TIMEOUT_S)
    if call.ended:
        return  # rejected, or ended at once: the record says how
    await call.wait_connected(timeout=STEP_TIMEOUT_S)
    await _turn_done(call, 0)  # the greeting, if the flow greets
    for line in lines:
        if call.ended:
            return
        before = len(call.server_events_of("response.done"))
        await call.say(line)
        await _turn_done(call, before)


async def _record_ended(studio: Studio, call_id: str) -> None:
    """Until the call's last record is in the database (bounded)."""
    records = studio.engine.records
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STEP_TIMEOUT_S):
            while True:
                record = await records.get(call_id)
                if record is not None and record.ended_at is not None:
                    break
                await asyncio.sleep(0.05)
    if records.writer is not None:
        await records.writer.flush()


async def place_test_call(
    studio: Studio, sim: Simulator, webhook_url: str, name: str, lines: list[str]
) -> TestCall:
    number, why = number_for(studio, name)
    if number is None:
        return TestCall(problem=why)
    call: SimCall | None = None
    problem = None
    try:
        async with asyncio.timeout(CALL_TIMEOUT_S):
            placed = await sim.place_call(webhook_url, to=number, from_=TEST_CALLER)
            call = placed.call
            try:
                await _converse(call, lines)
            except (TimeoutError, RuntimeError) as exc:  # the call went another way
                log.info("studio test call %s: %s", call.call_id, exc)
            if not call.ended:
                await call.hang_up()
            await _record_ended(studio, call.call_id)
    except TimeoutError:
        problem = f"The test call did not finish within {CALL_TIMEOUT_S:.0f} s; it was hung up."
        if call is not None and not call.ended:
            with contextlib.suppress(Exception):
                await call.hang_up()
    return TestCall(number=number, call_id=call.call_id if call else None, problem=problem)


def _webhook_url(request: Request) -> str:
    """The engine's own webhook, on the address this request came in on."""
    host, port = request.scope.get("server") or ("127.0.0.1", 80)
    host = f"[{host}]" if ":" in str(host) else host
    return f"http://{host}:{port}/webhooks/openai"


def routes(studio: Studio) -> list[BaseRoute]:
    @changes
    async def test_call(request: Request) -> Response:
        name = request.path_params["file"]
        form = await read_form(request)
        show: Callable[..., Response] = _shower(request, name)
        if studio.files.find(name) is None:
            return show(404, TestCall(problem="No such flow file."))
        sim = studio.engine.simulator
        if sim is None:
            why = "Test calls are placed in engine studio only (it runs the simulator)."
            return show(409, TestCall(problem=why))
        lines = read_lines(form.get("lines", ""))
        done = await place_test_call(studio, sim, _webhook_url(request), name, lines)
        return show(200 if done.call_id else 409, done, lines=lines)

    return [Route("/flows/{file:path}/test-call", test_call, methods=["POST"])]


def _shower(request: Request, name: str) -> Callable[..., Response]:
    def show(status: int, done: TestCall, **more: Any) -> Response:
        context = {
            "done": done,
            "file": name,
            "flow_link": f"{root_of(request)}/flows/{quote(name, safe='/')}",
            **more,
        }
        if request.headers.get("hx-request"):
            return render(request, "_test_call_result.html", status, **context)
        return render(request, "test_call.html", status, **context)

    return show

"""Play one scenario as a call: the production decision, ``CallMachine`` and ``HttpToolRunner``.

No network and no clock. The call is decided by ``decide`` (the webhook's own function),
then the very ``CallMachine`` of a live call is fed our call events, one at a time, in the
order a live call would deliver them. This module plays the model's and the caller's side:

* a ``RequestResponse`` with a line (a greeting, a tool's ``say``) is spoken at once: the
  response starts (with our request's tag), the agent says the line, its audio starts, the
  response finishes and the audio stops (the caller heard it all);
* a ``RequestResponse`` without a line (the model answers freely) is answered by the next
  ``model:`` step of the script; if the next step is something else, the model answers with
  nothing in particular (an empty response) so the call goes on;
* a ``model:`` step with no request waiting is a response the model starts on its own, as it
  does after the caller speaks;
* ``RunHttpTool`` is run by the real ``HttpToolRunner`` over an ``httpx.MockTransport`` that
  answers from the scenario's ``services:``; a request nobody foresaw is a failure;
* a ``Refer`` or a ``Hangup`` is recorded and ends the call; timers fire when nothing else is
  waiting, shortest first.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ..call.actions import (
    Action,
    CancelTimer,
    Hangup,
    Refer,
    RequestResponse,
    RunHttpTool,
    SendToolOutput,
    StartTimer,
    UpdateSession,
)
from ..call.answer import Answer as Accepted
from ..call.answer import decide
from ..call.events import (
    AgentSaid,
    AudioStarted,
    AudioStopped,
    CallEnded,
    CallerSaid,
    CallerSilent,
    CallEvent,
    KeypadPressed,
    ResponseFinished,
    ResponseStarted,
    SessionStarted,
    TimerFired,
    ToolCallRequested,
    ToolFinished,
)
from ..call.machine import CallMachine
from ..call.tools import HttpToolRunner
from ..flow.registry import Snapshot
from .scenario_format import NO_NUMBER_DIALLED, Answer, Expectation, Scenario, Step, Where

__all__ = ["DEFAULT_DAY", "Failure", "Observed", "play"]

# A Monday; with no `at:`, calls happen at 10:00 on this day in the flow's time zone.
DEFAULT_DAY = (2026, 1, 5, 10, 0)
CARRIER_HOST = "carrier.example"


@dataclass(frozen=True)
class Failure:
    where: Where
    expected: str
    happened: str


@dataclass
class Observed:
    """What happened on the call so far, as the expectations read it."""

    answered: bool = False
    refusal: tuple[int, str] | None = None
    flow_file: str | None = None
    states: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    transfer: str | None = None
    hangup: bool = False
    ended: str | None = None  # how the call ended, in words; None: still going
    transcript: list[tuple[str, str]] = field(default_factory=list)

    @property
    def state(self) -> str | None:
        return self.states[-1] if self.states else None


Check = Callable[[tuple[Expectation, ...], Observed], list[Failure]]


def _header(value: str) -> str:
    """A realistic SIP header value for a number, or the value as written if it is one."""
    if "<" in value or value.lower().startswith(("sip:", "sips:", "tel:")):
        return value
    if value.lower() == "anonymous":
        return '"Anonymous" <sip:anonymous@anonymous.invalid>'
    return f"<sip:{value}@{CARRIER_HOST}>"


def _sip_headers(scenario: Scenario, dialled: str) -> list[tuple[str, str]]:
    caller = scenario.call.caller
    headers = [
        ("From", _header(caller) + ";tag=scenario"),
        ("To", _header(dialled)),
        ("Contact", f"<sip:{caller if caller != 'anonymous' else 'caller'}@{CARRIER_HOST}:5060>"),
    ]
    given = {name.lower() for name, _ in scenario.call.headers}
    return [h for h in headers if h[0].lower() not in given] + list(scenario.call.headers)


def _when(scenario: Scenario, timezone: str) -> datetime:
    at = scenario.call.at
    zone = ZoneInfo(timezone)
    if at is None:
        return datetime(*DEFAULT_DAY, tzinfo=zone)
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


class _Masker:
    """Replaces the scenario's env values in anything shown, by `{{ env.NAME }}`."""

    def __init__(self, env: Mapping[str, str]) -> None:
        pairs = [(v, f"{{{{ env.{k} }}}}") for k, v in env.items() if len(v) >= 3]
        self._pairs = sorted(pairs, key=lambda p: -len(p[0]))

    def __call__(self, text: str) -> str:
        for value, name in self._pairs:
            text = text.replace(value, name)
        return text


class _Call:
    def __init__(
        self, scenario: Scenario, accepted: Accepted, observed: Observed, check: Check, env: dict
    ) -> None:
        self.scenario = scenario
        self.observed = observed
        self.check = check
        self.mask = _Masker(env)
        self.machine = CallMachine(accepted.flow.flow, dict(accepted.context))
        self.inbox: deque[CallEvent] = deque()
        self.waiting: RequestResponse | None = None  # a free response the model owes
        self.timers: dict[str, float] = {}
        self.failures: list[Failure] = []
        self.answers = {tool: deque(items) for tool, items in scenario.services.items()}
        self.tool_of_call: dict[str, str] = {}
        self.current_tool = ""
        self.current_where = scenario.where
        self.responses = 0
        self.calls = 0
        client = httpx.AsyncClient(transport=httpx.MockTransport(self._service))
        self.client = client
        self.runner = HttpToolRunner(client)
        observed.states.append(self.machine.state or "")

    # -- the outside services ------------------------------------------------------------------
    def _service(self, request: httpx.Request) -> httpx.Response:
        tool = self.current_tool
        body: Any = None
        if request.content:
            try:
                body = json.loads(request.content)
            except ValueError:
                body = self.mask(request.content.decode("utf-8", "replace"))
        url = self.mask(str(request.url))
        self.observed.requests.append(
            {
                "tool": tool,
                "method": request.method,
                "url": url,
                "headers": {
                    name: self.mask(value)
                    for name, value in request.headers.items()
                    if name.lower() not in ("host", "content-length")
                },
                "body": body,
            }
        )
        queue = self.answers.get(tool)
        if not queue:
            given = len(self.scenario.services.get(tool, []))
            more = f" (its {given} answer{'s' if given != 1 else ''} were used up)" if given else ""
            self.failures.append(
                Failure(
                    self.current_where,
                    f'an answer for "{tool}" under `services:`',
                    f'the flow asked {request.method} {url} for the tool "{tool}" and the '
                    f"scenario does not say how the service answers{more}",
                )
            )
            raise httpx.ConnectError("unforeseen request", request=request)
        # A list of answers is used once each, in order; a single answer answers every time.
        listed = tool in self.scenario.services_listed
        answer: Answer = queue.popleft() if listed else queue[0]
        if answer.timeout:
            raise httpx.ReadTimeout("the scenario's service did not answer", request=request)
        if answer.unreachable:
            raise httpx.ConnectError("the scenario's service cannot be reached", request=request)
        if answer.has_json:
            return httpx.Response(
                answer.status,
                content=json.dumps(answer.json).encode(),
                headers={"content-type": "application/json"},
            )
        return httpx.Response(answer.status, text=answer.text or "")

    # -- the machine ---------------------------------------------------------------------------
    async def settle(self, upcoming: list[Step]) -> None:
        """Deliver every event that follows from what happened, until the call waits."""
        while True:
            while self.inbox:
                event = self.inbox.popleft()
                for action in self.machine.handle(event):
                    await self._do(action)
                self._note()
            if self.machine.ended:
                self.waiting = None
                return
            if self.waiting is not None:
                following = next((s for s in upcoming if s.kind != "expect"), None)
                if following is not None and following.kind == "model":
                    return  # the script's next model line answers it
                request, self.waiting = self.waiting, None
                self._respond(request.request, None, None, {})
                continue
            if self.timers:
                name = min(self.timers, key=self.timers.__getitem__)
                del self.timers[name]
                self.inbox.append(TimerFired(name))
                continue
            return

    def _note(self) -> None:
        state = self.machine.state or ""
        if state != self.observed.state:
            self.observed.states.append(state)
        self.observed.transcript = [(w, self.mask(t)) for w, t in self.machine.transcript]

    def _respond(self, tag: str | None, says: str | None, calls: str | None, args: dict) -> None:
        self.responses += 1
        rid = f"resp_{self.responses}"
        events: list[CallEvent] = [ResponseStarted(rid, tag)]
        if says:
            events += [AgentSaid(rid, says), AudioStarted(rid)]
        if calls is not None:
            self.calls += 1
            call_id = f"call_{self.calls}"
            self.tool_of_call[call_id] = calls
            events.append(ToolCallRequested(rid, call_id, calls, json.dumps(args)))
        events.append(ResponseFinished(rid, "completed"))
        if says:
            events.append(AudioStopped(rid))
        self.inbox.extend(events)

    async def _do(self, action: Action) -> None:
        if isinstance(action, RequestResponse):
            if action.say is not None:
                self.observed.said.append(self.mask(action.say))
                self._respond(action.request, action.say, None, {})
            else:
                self.waiting = action
        elif isinstance(action, RunHttpTool):
            self.current_tool = action.tool
            result = await self.runner.run(action.tool, action.request, action.context)
            self.inbox.append(
                ToolFinished(action.call_id, action.tool, result.output, result.ok, result.saved)
            )
        elif isinstance(action, SendToolOutput):
            try:
                output = json.loads(action.output)
            except ValueError:
                output = {}
            output = output if isinstance(output, dict) else {}
            record = {
                "tool": self.tool_of_call.get(action.call_id, "?"),
                "ok": bool(output.get("ok", False)),
                "error": output.get("error"),
                "status": output.get("status"),
            }
            self.observed.tool_results.append(record)
        elif isinstance(action, Refer):
            self.observed.transfer = self.mask(action.target)
            self.observed.ended = f"transferred to {json.dumps(self.observed.transfer)}"
            self.inbox.append(CallEnded("transferred"))
        elif isinstance(action, Hangup):
            self.observed.hangup = True
            self.observed.ended = "the flow hung up"
            self.inbox.append(CallEnded("hung up"))
        elif isinstance(action, StartTimer):
            self.timers[action.name] = action.seconds
        elif isinstance(action, CancelTimer):
            self.timers.pop(action.name, None)
        elif isinstance(action, UpdateSession):
            pass  # the state change is read from the machine

    # -- the script ----------------------------------------------------------------------------
    async def step(self, step: Step) -> None:
        self.current_where = step.where
        if step.kind == "expect":
            self.failures += self.check(step.expect, self.observed)
            return
        if self.machine.ended:
            self.failures.append(
                Failure(
                    step.where,
                    f"the call to go on for this `{step.kind}` step",
                    f"the call had already ended ({self.observed.ended})",
                )
            )
            return
        if step.kind == "caller":
            self.inbox.append(CallerSaid(step.text))
        elif step.kind == "press":
            self.inbox.extend(KeypadPressed(digit) for digit in step.text)
        elif step.kind == "silence":
            self.inbox.append(CallerSilent())
        elif step.kind == "drop":
            self.observed.ended = "the caller hung up"
            self.inbox.append(CallEnded("the caller hung up"))
        elif step.kind == "model":
            tag = None
            if self.waiting is not None:
                tag, self.waiting = self.waiting.request, None
            if step.says:
                self.observed.said.append(step.says)
            self._respond(tag, step.says, step.calls, step.args)


async def play(
    scenario: Scenario,
    *,
    snapshot: Snapshot,
    env: dict[str, str],
    timezone: str,
    default_dialled: str,
    check: Check,
) -> tuple[Observed, list[Failure]]:
    """Run ``scenario``; return what happened and every expectation it did not meet."""
    observed = Observed()
    dialled = scenario.call.dialled or default_dialled or NO_NUMBER_DIALLED
    decision = decide(
        call_id=f"rtc_scenario_{scenario.index + 1}",
        sip_headers=_sip_headers(scenario, dialled),
        snapshot=snapshot,
        env=env,
        now=_when(scenario, timezone),
    )
    if not isinstance(decision, Accepted):
        observed.refusal = (decision.sip_status, decision.reason)
        observed.ended = f"rejected with {decision.sip_status}"
        failures = []
        for step in scenario.steps:
            if step.kind == "expect":
                failures += check(step.expect, observed)
        return observed, failures + check(scenario.expect, observed)
    observed.answered = True
    observed.flow_file = decision.flow.path
    call = _Call(scenario, decision, observed, check, env)
    try:
        call.inbox.append(SessionStarted())
        await call.settle(scenario.steps)
        for number, step in enumerate(scenario.steps):
            await call.step(step)
            await call.settle(scenario.steps[number + 1 :])
        call.failures += check(scenario.expect, observed)
    finally:
        await call.client.aclose()
    return observed, call.failures

"""Play one scenario as a call: the production decision, ``CallMachine`` and ``HttpToolRunner``.

No network and no wall clock. The call is decided by ``decide`` (the webhook's own function),
then the very ``CallMachine`` of a live call is fed our call events, one at a time, in the
order a live call would deliver them. This module plays the platform's, the model's and the
caller's side:

* the platform runs one response at a time, as the Realtime API does: a request while one is
  running is refused (``conversation_already_has_active_response``); ``CancelResponse``
  stops the running one (it finishes ``cancelled``, its audio is cleared, and its line is
  not heard); ``AddNote`` is remembered as something the model was told;
* a ``RequestResponse`` with a line (a greeting, a tool's ``say``, an engine line) is spoken
  at once: the response starts (with our request's tag), the agent says the line, its audio
  starts and the response finishes; the audio then plays on after ``response.done``, as
  over SIP, for the line's spoken length (``SPEECH_CHARS_PER_SECOND``); when it stops, the
  caller has heard the line. As in our simulator, a line whose audio starts while an
  earlier one still plays has that one played out first (heard, with no time passing).
  ``StopAudio`` (``output_audio_buffer.clear``) cuts every line still playing, and so does
  ``CancelResponse`` (the driver sends the clear after the cancel);
* a ``RequestResponse`` without a line (the model answers freely) starts at once and is
  answered by the next ``model:`` step of the script; if the next step is something else,
  the model answers with nothing in particular (an empty response) so the call goes on;
* a ``model:`` step with no request waiting is a response the model starts on its own, as it
  does after the caller speaks;
* a ``silence`` step is the platform's idle timeout (only where the session has one: every
  state has a silence ladder, the default one if none is written, unless `silence: off`):
  ``CallerSilent``, then the platform's own nudge response, which the engine may cancel;
* ``RunHttpTool`` is run by the real ``HttpToolRunner`` over an ``httpx.MockTransport`` that
  answers from the scenario's ``services:``; a request nobody foresaw is a failure. An
  answer ``after:`` some seconds (or a timeout) arrives that much later on the clock;
* a ``Refer`` goes as the scenario's ``transfers:`` say: answered (the call ends), answered
  after some seconds of ringing (the call stays up meanwhile, as on a real trunk, then ends
  as transferred, unless it ended first: the engine's ``transfer`` timer may give up on the
  ringing target and try the next), unanswered (the call stays; the engine's ``transfer``
  timer fires) or refused (``ReferFailed``); a ``Hangup`` ends the call.

Time is a virtual clock, in seconds from the answer. Timers fire when the clock reaches them.
The clock moves by itself only while the engine waits for something that will come without
the caller (a service's answer, a transfer to take, a line to be heard); otherwise only a
``wait:`` step, or the caller's ``silence``, moves it. A step marked ``while_agent_speaks``
comes as soon as the agent's audio is playing, without waiting for it to be heard.
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
    AddNote,
    CancelResponse,
    CancelTimer,
    Hangup,
    Refer,
    RequestResponse,
    RunHttpTool,
    SendToolOutput,
    SetIdleTimeout,
    StartTimer,
    StopAudio,
    UpdateSession,
)
from ..call.answer import Answer, decide
from ..call.events import (
    AgentSaid,
    AudioCleared,
    AudioStarted,
    AudioStopped,
    CallEnded,
    CallerSaid,
    CallerSilent,
    CallerStartedSpeaking,
    CallEvent,
    KeypadPressed,
    PlatformError,
    ReferFailed,
    ResponseFinished,
    ResponseStarted,
    SessionStarted,
    TimerFired,
    ToolCallRequested,
    ToolFinished,
)
from ..call.machine import CallMachine
from ..call.timers import Timer, TimerKey
from ..call.tools import HttpToolRunner
from ..flow.registry import Snapshot
from .scenario_format import (
    NO_NUMBER_DIALLED,
    Expectation,
    Scenario,
    ServiceReply,
    Step,
    Transfer,
    Where,
)

__all__ = ["DEFAULT_DAY", "SPEECH_CHARS_PER_SECOND", "Failure", "Observed", "play"]

# A Monday; with no `at:`, calls happen at 10:00 on this day in the flow's time zone.
DEFAULT_DAY = (2026, 1, 5, 10, 0)
CARRIER_HOST = "carrier.example"
# How fast the agent's lines are heard: the audio of a line plays this long after its
# response is done (about the rate the machine allows for when it waits for a line).
SPEECH_CHARS_PER_SECOND = 12.0


@dataclass(frozen=True)
class Failure:
    where: Where
    expected: str
    happened: str
    # Lines shown under ``happened`` (where a line heard first differs from the expected one).
    detail: tuple[str, ...] = ()


@dataclass
class Observed:
    """What happened on the call so far, as the expectations read it."""

    answered: bool = False
    refusal: tuple[int, str] | None = None
    flow_file: str | None = None
    states: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)  # lines the caller heard to the end
    cut_short: list[str] = field(default_factory=list)  # lines begun, then stopped
    told: list[str] = field(default_factory=list)  # what the engine told the model (notes)
    saved: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    transfer: str | None = None  # the transfer that took
    transfers_tried: list[str] = field(default_factory=list)
    hangup: bool = False
    ended: str | None = None  # how the call ended, in words; None: still going
    transcript: list[tuple[str, str]] = field(default_factory=list)
    clock: float = 0.0  # seconds since the call was answered

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


ACTIVE_RESPONSE = "conversation_already_has_active_response"
CANCEL_NOT_ACTIVE = "response_cancel_not_active"
# Timers of waits that end without the caller: the clock moves on to them by itself.
ENGINE_WAITS = (Timer.TRANSFER, Timer.HEARD)
MAX_EVENTS = 20_000  # per settling; a call that never settles is a failure, not a hang


class _Runaway(Exception):
    pass


class _Call:
    def __init__(
        self, scenario: Scenario, accepted: Answer, observed: Observed, check: Check, env: dict
    ) -> None:
        self.scenario = scenario
        self.observed = observed
        self.check = check
        self.mask = _Masker(env)
        flow = accepted.flow.flow
        self.machine = CallMachine(
            flow, dict(accepted.context), opening=getattr(accepted, "opening", None)
        )
        self.inbox: deque[CallEvent] = deque()
        self.failures: list[Failure] = []
        # The clock, and what is due on it: timers by name, and answers still on their way.
        self.now = 0.0
        self.timers: dict[TimerKey, tuple[float, int]] = {}
        self.later: list[tuple[float, int, CallEvent]] = []
        self.order = 0
        # The platform: one response at a time.
        self.active: str | None = None  # the response the platform is running
        self.owed: str | None = None  # a started response whose words the model owes
        self.current: str | None = None  # the response the machine last saw start, not finish
        self.lines: dict[str, str] = {}  # what the agent is saying, by response
        self.audio: set[str] = set()  # responses whose audio started and has not stopped
        self.ringing: dict[int, str] = {}  # transfers answered later, by stamp: the target
        self.responses = 0
        idle = getattr(accepted.session, "idle", None)
        self.idle_ms: int | None = idle.ms if idle is not None else None
        # The outside world.
        self.replies = {tool: deque(items) for tool, items in scenario.services.items()}
        self.tool_of_call: dict[str, str] = {}
        self.current_tool = ""
        self.current_timeout = 5.0
        self.delay = 0.0
        self.current_where = scenario.where
        self.calls = 0
        self.transfers = 0
        client = httpx.AsyncClient(transport=httpx.MockTransport(self._service))
        self.client = client
        self.runner = HttpToolRunner(client)
        observed.states.append(self.machine.state or "")

    # -- the outside services ------------------------------------------------------------------
    def _service(self, request: httpx.Request) -> httpx.Response:
        tool = self.current_tool
        self.delay = 0.0
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
        queue = self.replies.get(tool)
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
        reply: ServiceReply = queue.popleft() if listed else queue[0]
        if reply.timeout or reply.after >= self.current_timeout:
            self.delay = self.current_timeout  # the tool's own timeout runs out
            raise httpx.ReadTimeout("the scenario's service did not answer", request=request)
        self.delay = reply.after
        if reply.unreachable:
            raise httpx.ConnectError("the scenario's service cannot be reached", request=request)
        if reply.has_json:
            return httpx.Response(
                reply.status,
                content=json.dumps(reply.json).encode(),
                headers={"content-type": "application/json"},
            )
        return httpx.Response(reply.status, text=reply.text or "")

    # -- the clock -------------------------------------------------------------------------
    def _next_due(self) -> float | None:
        dues = [due for due, _ in self.timers.values()] + [due for due, _, _ in self.later]
        return min(dues) if dues else None

    def _fire_next(self) -> None:
        """Move the clock to the next timer or answer due, and deliver it."""
        timer = min(self.timers.items(), key=lambda item: item[1], default=None)
        answer = min(self.later, key=lambda item: item[:2], default=None)
        if timer is not None and (answer is None or timer[1] <= answer[:2]):
            name, (due, _) = timer
            del self.timers[name]
            self.now = max(self.now, due)
            self.inbox.append(TimerFired(name))
        elif answer is not None:
            self.later.remove(answer)
            self.now = max(self.now, answer[0])
            target = self.ringing.pop(answer[1], None)
            if target is not None:  # the person answered: the call leaves the engine
                self.observed.transfer = target
                self.observed.ended = f"transferred to {json.dumps(target)}"
            self.inbox.append(answer[2])

    def _engine_waiting(self) -> bool:
        """The engine waits for something that comes without the caller: time passes.
        A transfer still ringing after the engine stopped waiting for it (its ``transfer``
        timer fired) is not waited for: it is answered only if time passes anyway."""
        coming = any(stamp not in self.ringing for _, stamp, _ in self.later)
        return coming or any(name in self.timers for name in ENGINE_WAITS)

    def _stamp(self) -> int:
        self.order += 1
        return self.order

    # -- the machine ---------------------------------------------------------------------------
    async def settle(self, upcoming: list[Step], until: float | None = None) -> None:
        """Deliver every event that follows from what happened, until the call waits.

        The clock moves on by itself while the engine waits (up to ``until``, if given),
        except that a next step marked ``while_agent_speaks`` comes while audio plays."""
        following = next((s for s in upcoming if s.kind != "expect"), None)
        for _ in range(MAX_EVENTS):
            if self.inbox:
                await self._deliver(self.inbox.popleft())
                continue
            if self.machine.ended:
                self.owed = None
                return
            if self.owed is not None:
                if following is not None and following.kind == "model":
                    return  # the script's next model line answers it
                self._fill_owed(None, None, {})
                continue
            if self.audio and following is not None and following.while_agent_speaks:
                return  # the caller acts while the agent is still being heard
            if self._engine_waiting():
                due = self._next_due()
                if until is not None and due is not None and due > until:
                    return
                self._fire_next()
                continue
            return
        raise _Runaway

    async def _deliver(self, event: CallEvent) -> None:
        if isinstance(event, ResponseStarted):
            self.current = event.response_id
        elif isinstance(event, ResponseFinished) and self.current == event.response_id:
            self.current = None
        elif isinstance(event, AudioStarted):
            self.audio.add(event.response_id)
        elif isinstance(event, AudioStopped):
            self.audio.discard(event.response_id)
            line = self.lines.pop(event.response_id, None)
            if line:
                self.observed.said.append(self.mask(line))  # heard to the end
        elif isinstance(event, AudioCleared):
            line = self.lines.pop(event.response_id, None)
            if line:
                self.observed.cut_short.append(self.mask(line))  # its start was heard
        for action in self.machine.handle(event):
            await self._do(action)
        self._note()

    def _note(self) -> None:
        state = self.machine.state or ""
        if state != self.observed.state:
            self.observed.states.append(state)
        self.observed.transcript = [(w, self.mask(t)) for w, t in self.machine.transcript]
        self.observed.saved = dict(self.machine.context.get("saved", {}))
        self.observed.clock = self.now

    # -- the platform's responses --------------------------------------------------------------
    def _start(self, tag: str | None) -> str:
        self.responses += 1
        rid = f"resp_{self.responses}"
        self.inbox.append(ResponseStarted(rid, tag))
        self.active = rid
        return rid

    def _content(self, rid: str, says: str | None, calls: str | None, args: dict) -> None:
        """The words and tool call of a started response, then its end."""
        events: list[CallEvent] = []
        if says:
            self.lines[rid] = says
            events += [*self._play(rid, says), AgentSaid(rid, says), AudioStarted(rid)]
        if calls is not None:
            self.calls += 1
            call_id = f"call_{self.calls}"
            self.tool_of_call[call_id] = calls
            events.append(ToolCallRequested(rid, call_id, calls, json.dumps(args)))
        events.append(ResponseFinished(rid, "completed"))
        self.inbox.extend(events)
        if self.active == rid:
            self.active = None

    def _play(self, rid: str, says: str) -> list[CallEvent]:
        """The line's audio plays for its spoken length; its ``output_audio_buffer.stopped``
        comes when it is over. One output buffer, as in our simulator: a line still playing
        is played out first (returned: its stop, heard to the end, comes now)."""
        playing = [item for item in self.later if isinstance(item[2], AudioStopped)]
        self.later = [item for item in self.later if item not in playing]
        seconds = len(says) / SPEECH_CHARS_PER_SECOND
        self.later.append((self.now + seconds, self._stamp(), AudioStopped(rid)))
        return [event for _, _, event in sorted(playing, key=lambda item: item[:2])]

    def _request(self, action: RequestResponse) -> None:
        if self.active is not None:
            # The platform runs one response at a time (its own nudge may have started).
            self.inbox.append(
                PlatformError(
                    ACTIVE_RESPONSE, "Conversation already has an active response", action.request
                )
            )
            return
        rid = self._start(action.request)
        if action.say is not None:
            self._content(rid, action.say, None, {})
        else:
            self.owed = rid

    def _fill_owed(self, says: str | None, calls: str | None, args: dict) -> None:
        """The model's words (or its tool call) for the started response it owes."""
        rid, self.owed = self.owed, None
        if rid is not None:
            self._content(rid, says, calls, args)

    def _cancel(self) -> None:
        """``response.cancel`` then ``output_audio_buffer.clear``: what is not yet heard of
        the running response never is."""
        rid = self.current if self.current is not None else self.active
        if rid is None:
            self.inbox.append(PlatformError(CANCEL_NOT_ACTIVE, "There is no active response"))
            return
        kept = [
            e
            for e in self.inbox
            if getattr(e, "response_id", None) != rid or isinstance(e, ResponseStarted)
        ]
        self.inbox = deque(kept)
        if rid not in self.audio:
            self.lines.pop(rid, None)  # not a word of it was heard
        self._unplay(rid)
        if self.owed == rid:
            self.owed = None
        if self.active == rid:
            self.active = None
        self.inbox.append(ResponseFinished(rid, "cancelled"))
        self._clear_audio()

    def _clear_audio(self) -> None:
        """``output_audio_buffer.clear`` after a response is done: what still plays of it is
        cut, so the caller never hears the rest."""
        # A line played out just now (its stop on the way) was heard before the clear.
        over = {e.response_id for e in self.inbox if isinstance(e, AudioStopped)}
        for rid in sorted(self.audio - over, key=lambda rid: (len(rid), rid)):
            self._unplay(rid)
            self.audio.discard(rid)
            self.inbox.append(AudioCleared(rid))

    def _unplay(self, rid: str) -> None:
        """The audio of ``rid`` will not stop by itself now: it was cut."""
        self.later = [
            item
            for item in self.later
            if not (isinstance(item[2], AudioStopped) and item[2].response_id == rid)
        ]

    # -- what the machine asks for ---------------------------------------------------------
    async def _do(self, action: Action) -> None:
        if isinstance(action, RequestResponse):
            self._request(action)
        elif isinstance(action, CancelResponse):
            self._cancel()
        elif isinstance(action, StopAudio):
            self._clear_audio()
        elif isinstance(action, AddNote):
            self.observed.told.append(self.mask(action.text))
        elif isinstance(action, RunHttpTool):
            self.current_tool = action.tool
            self.current_timeout = action.request.timeout
            result = await self.runner.run(action.tool, action.request, action.context)
            event = ToolFinished(
                action.call_id, action.tool, result.output, result.ok, result.saved
            )
            if self.delay > 0:
                self.later.append((self.now + self.delay, self._stamp(), event))
            else:
                self.inbox.append(event)
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
            self._refer(action.target)
        elif isinstance(action, Hangup):
            self.observed.hangup = True
            self.observed.ended = "the flow hung up"
            self.inbox.append(CallEnded("hung up"))
        elif isinstance(action, StartTimer):
            self.timers[action.name] = (self.now + action.seconds, self._stamp())
        elif isinstance(action, CancelTimer):
            self.timers.pop(action.name, None)
        elif isinstance(action, UpdateSession | SetIdleTimeout):
            idle = getattr(action, "idle", None)
            if idle is not None:
                self.idle_ms = idle.ms

    def _refer(self, target: str) -> None:
        shown = self.mask(target)
        self.transfers += 1
        self.observed.transfers_tried.append(shown)
        outcome = self._transfer_outcome(shown)
        if outcome.outcome == "refused":
            self.inbox.append(ReferFailed(target, "the carrier refused the transfer"))
        elif outcome.outcome == "answered" and outcome.rings > 0:
            # It rings: the call stays up (the caller is on hold) until the person answers.
            stamp = self._stamp()
            self.ringing[stamp] = shown
            self.later.append((self.now + outcome.rings, stamp, CallEnded("transferred")))
        elif outcome.outcome == "answered":
            self.observed.transfer = shown
            self.observed.ended = f"transferred to {json.dumps(shown)}"
            self.inbox.append(CallEnded("transferred"))
        # unanswered: the call stays up, and the engine's transfer timer will fire

    def _transfer_outcome(self, shown: str) -> Transfer:
        scenario = self.scenario
        if not scenario.transfers:
            return Transfer("answered")
        if not scenario.transfers_listed:
            return scenario.transfers[0]
        if self.transfers <= len(scenario.transfers):
            return scenario.transfers[self.transfers - 1]
        given = len(scenario.transfers)
        self.failures.append(
            Failure(
                scenario.transfers_where or self.current_where,
                f"how transfer {self.transfers} goes, under `transfers:`",
                f"the flow made transfer {self.transfers} (to {json.dumps(shown)}) and "
                f"`transfers:` says how {given} go{'es' if given == 1 else ''}",
            )
        )
        return Transfer("answered")

    # -- the script ----------------------------------------------------------------------------
    async def step(self, step: Step, rest: list[Step]) -> None:
        self.current_where = step.where
        if step.kind == "expect":
            self.failures += self.check(step.expect, self.observed)
            return
        if self.machine.ended:
            self._after_end(step)
            return
        if step.while_agent_speaks and not self.audio:
            self.failures.append(
                Failure(
                    step.where,
                    f"the agent to be speaking when this `{step.kind}` step came "
                    "(`while_agent_speaks: true`)",
                    "the agent was not speaking: every line had been heard to the end",
                )
            )
        if step.kind == "caller":
            self.inbox.extend([CallerStartedSpeaking(), CallerSaid(step.text)])
        elif step.kind == "press":
            self.inbox.extend(KeypadPressed(key) for key in step.text)
        elif step.kind == "silence":
            for _ in range(step.count):
                if not await self._silence(step):
                    return
        elif step.kind == "wait":
            await self._pass_time(self.now + step.seconds, rest, bounded=step.while_agent_speaks)
        elif step.kind == "drop":
            self.observed.ended = "the caller hung up"
            self.inbox.append(CallEnded("the caller hung up"))
        elif step.kind == "model":
            if self.owed is not None:
                self._fill_owed(step.says, step.calls, step.args)
            else:
                rid = self._start(None)  # the model answers on its own, as after speech
                self._content(rid, step.says, step.calls, step.args)

    def _after_end(self, step: Step) -> None:
        self.failures.append(
            Failure(
                step.where,
                f"the call to go on for this `{step.kind}` step",
                f"the call had already ended ({self.observed.ended})",
            )
        )

    async def _pass_time(self, deadline: float, rest: list[Step], *, bounded: bool) -> None:
        """`wait:`: whatever falls due until ``deadline`` happens, in order. ``bounded`` (a
        wait while the agent speaks): not even what the engine waits for goes past it."""
        while True:
            await self.settle(rest, until=deadline if bounded else None)
            if self.machine.ended:
                return
            due = self._next_due()
            if due is None or due > deadline:
                break
            if self.owed is not None:
                self._fill_owed(None, None, {})  # more happens before the wait is over
                continue
            self._fire_next()
        self.now = max(self.now, deadline)
        self.observed.clock = self.now

    async def _silence(self, step: Step) -> bool:
        """The caller says nothing for the session's idle timeout, which the platform then
        reports, starting its own nudge response. In a state with `silence: off` the
        session has no idle timeout: nothing is reported and nothing happens. False: the
        call ended meanwhile."""
        heard = len(self.observed.said)
        deadline = None
        while True:
            await self.settle([])
            if self.machine.ended:
                return False
            if self.idle_ms is None:
                # `silence: off` here: the platform reports no silence, nothing happens.
                return True
            if deadline is None or len(self.observed.said) != heard:
                # The silence counts from the end of whatever the agent last said.
                heard = len(self.observed.said)
                deadline = self.now + self.idle_ms / 1000
            due = self._next_due()
            if due is None or due > deadline:
                break
            self._fire_next()
        self.now = deadline
        self.observed.clock = self.now
        self.inbox.append(CallerSilent())
        self.owed = self._start(None)  # the platform's own "are you still there?"
        return True


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
    if not isinstance(decision, Answer):
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
    steps = scenario.steps
    try:
        call.inbox.append(SessionStarted())
        await call.settle(steps)
        for number, step in enumerate(steps):
            await call.step(step, steps[number + 1 :])
            await call.settle(steps[number + 1 :])
        call.failures += check(scenario.expect, observed)
    except _Runaway:
        call.failures.append(
            Failure(
                call.current_where,
                "the call to wait for the caller again",
                f"the call went on by itself for more than {MAX_EVENTS} events",
            )
        )
    finally:
        await call.client.aclose()
    return observed, call.failures

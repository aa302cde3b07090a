"""``CallMachine``: one call's decisions, with no I/O.

Events go in (``handle``), actions come out. The machine never sleeps, reads a clock or
touches a socket: waiting is a ``StartTimer`` action and a ``TimerFired`` event later, so every
transition is a plain unit test, and ``engine test`` scenarios can drive the very same class.

What it owns:
- the greeting (or the ``opening`` a closed line answers with), and one active response at a
  time: a response is requested only when none is running, and waited for a bounded time
  (``REQUEST_WAIT_S``) so a request the server never started cannot hold up every later
  line. A scripted line the server refused because a response was running
  (``conversation_already_has_active_response``) is asked again after it; a free reply is
  not (the running response is the server answering by itself, and a second would make the
  agent speak twice); any other error for a request drops it;
- stopping the agent (a key, keyed digits, the time limit): the response under way is
  cancelled, and audio that still plays after its ``response.done`` is cleared;
- tool calls, each started the moment its function-call item is complete (the model may
  speak on for seconds after it): the HTTP request, the state change, the filler's clock and
  the output go out then; what can only follow the response (a new response for the whole
  batch, a transfer's or hangup's line, the REFER or hangup) waits for it to end. When the
  caller cuts that response short (it ends ``cancelled``), what was done stands and what was
  waiting is dropped: see ``_Batch`` and ``Departure.calling_response``;
- a tool's steps: ``say`` → ``http`` → ``goto`` → ``transfer``/``hangup``. For a tool that ends
  the call, ``say`` is its last line and the transfer or hangup waits until the caller has
  heard it (the audio of that response stopped, or a cap for calls that never report it);
- tools the engine runs by itself (keypad keys, keyed-in digits, silence steps, fallbacks);
- transfers that cannot fail silently: after a REFER the call must leave within the trunk's
  wait, or the caller is told and the next target (then the fallback) is tried;
- the silence ladder, the call's time limit and the caps on tool calls and failures;
- the transcript and the list of events seen.

The call moves through four phases (``Phase``): TALKING → ENDING (a ``Departure``, a transfer
or hangup, waits for its line to be heard) → LEAVING (the REFER or hangup went out) → ENDED; a
transfer that does not take goes back to ENDING for the next target, or to TALKING for the
fallback. Only ``_move_to`` changes the phase and the departure.

docs/ivr-design.md describes the IVR behaviours this implements.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from ..flow.model import Flow, Step, Tool
from ..flow.templates import TemplateError, render
from . import wording
from .actions import (
    Action,
    AddNote,
    CancelResponse,
    CancelTimer,
    Hangup,
    IdleTimeout,
    Refer,
    RequestResponse,
    RunHttpTool,
    SendToolOutput,
    SetIdleTimeout,
    StartTimer,
    StopAudio,
    UpdateSession,
)
from .digits import DigitEntry
from .events import (
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
    SessionResumed,
    SessionStarted,
    TimerFired,
    ToolCallRequested,
    ToolFinished,
)
from .session import idle_for, instructions_for, tools_for
from .timers import FillerTimer, Timer
from .transfer_guard import transfer_targets
from .wording import Told

__all__ = [
    "COLLECT_TIMER",
    "HEARD_TIMER",
    "REQUEST_TIMER",
    "REQUEST_WAIT_S",
    "TIME_LIMIT",
    "TIME_UP_TIMER",
    "TIME_WARNING_TIMER",
    "TRANSFER_TIMER",
    "CallMachine",
    "filler_timer",
]

# The fixed timers under the names callers of the machine have long imported.
HEARD_TIMER = Timer.HEARD
REQUEST_TIMER = Timer.REQUEST
TRANSFER_TIMER = Timer.TRANSFER
COLLECT_TIMER = Timer.COLLECT
TIME_WARNING_TIMER = Timer.TIME_WARNING
TIME_UP_TIMER = Timer.TIME_UP
TIME_LIMIT = "time limit"  # ``ended_by`` when the call's time limit ends it
ACTIVE_RESPONSE = "conversation_already_has_active_response"
# How long a requested response may take to start before the machine stops waiting for it
# and moves on. The server starts one in well under a second; this covers a slow one
# without leaving the caller in silence when a request is lost (an error that names no
# request, a response.created that lost our metadata).
REQUEST_WAIT_S = 5.0
# Speech runs at about 12 characters a second; the cap on waiting for a line to be heard
# allows for that plus slack, for calls whose platform never reports the audio stopped.
_CHARS_PER_SECOND = 12.0
_HEARD_SLACK_S = 2.0
_HEARD_MIN_S, _HEARD_MAX_S = 3.0, 30.0


def filler_timer(call_id: str) -> FillerTimer:
    return FillerTimer(call_id)


def _output(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False)


class Phase(Enum):
    """Where the call is; ``CallMachine._move_to`` is the one place that changes it."""

    TALKING = "talking"  # the caller and the agent: no departure
    ENDING = "ending"  # a departure waits for its line (or the agent) to be heard
    LEAVING = "leaving"  # the REFER or hangup went out: the call should leave
    ENDED = "ended"  # the call is over: nothing more is handled


@dataclass(frozen=True)
class Departure:
    """How the call leaves: transferred or hung up, once its line (if any) has been heard.
    Nothing else starts meanwhile. Frozen: each change is a new value, named by one of the
    methods below, and ``CallMachine._move_to`` is the one place that takes it on."""

    kind: str  # "transfer" or "hangup"
    targets: tuple[str, ...]  # transfer URIs not tried yet, in order
    line_request: str | None  # our tag of the line heard before it, if there is one
    line_response: str | None = None  # the response saying that line, once it has started
    referred: str | None = None  # the target of the REFER awaiting the call's end
    fallback: Step | None = None  # when every target failed
    on_hold: bool = False  # the silence timeout is off while a REFER may ring
    why: str = ""  # what ends the call, for its record: "tool NAME", TIME_LIMIT, "silence", …
    # The response whose tool call started this, while it is still being generated: the line
    # and the REFER or hangup wait for it to end, and if the caller cuts it short, the
    # departure is called off (the model is told).
    calling_response: str | None = None

    def line_lost(self) -> Departure:
        """Its line's request will not start: nothing to wait for by that tag."""
        return replace(self, line_request=None)

    def line_playing(self, response_id: str) -> Departure:
        """This response says its line."""
        return replace(self, line_response=response_id)

    def called(self) -> Departure:
        """The response that called it has ended (or was lost with the connection)."""
        return replace(self, calling_response=None)

    def referring(self) -> Departure:
        """The REFER to the next target goes out."""
        return replace(self, targets=self.targets[1:], referred=self.targets[0])

    def holding(self) -> Departure:
        """The caller is on hold while the target rings."""
        return replace(self, on_hold=True)

    def next_target(self, line_request: str | None) -> Departure:
        """The REFER did not take: the next target, after this line (if any), the caller
        off hold."""
        return replace(
            self, referred=None, on_hold=False, line_request=line_request, line_response=None
        )


@dataclass
class _Batch:
    """The tool calls of one response. Each starts when its item is complete; one response
    follows all their outputs, once the response has ended and the last service answered."""

    response_id: str
    open: bool  # the response is still being generated
    calls: list[str] = field(default_factory=list)  # call ids, in order
    running: set[str] = field(default_factory=set)  # calls whose service has not answered
    has_output: bool = False  # an output went back that the model should speak about
    # The response was cancelled (the caller spoke over it, a key was pressed): the outputs
    # still go back, but no response follows them; the caller's turn is answered instead.
    quiet: bool = False


@dataclass
class _PendingTool:
    call_id: str
    name: str
    tool: Tool
    args: dict[str, Any]
    from_model: bool  # False: the engine runs it (keypad, digits, a silence step, a fallback)


@dataclass
class CallMachine:
    flow: Flow
    context: dict[str, Any]
    state: str | None = None
    opening: Tool | None = None  # run instead of the greeting (a closed line, a caller rule)
    ended: bool = False
    transcript: list[tuple[str, str]] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = self.state or self.flow.start_state
        self.context.setdefault("saved", {})
        self.context.setdefault("call", {})["state"] = self.state or ""
        self._active: str | None = None  # the response the server is running
        self._requested: RequestResponse | None = None  # asked for, not started yet
        self._queue: deque[RequestResponse] = deque()
        self._next_tag = 0
        self._noting: set[str] | None = None  # see _noting_requests
        self._batches: dict[str, _Batch] = {}  # by response id, until settled
        self._batch_of: dict[str, _Batch] = {}  # the same, by call id
        self._running: dict[str, _PendingTool] = {}  # http tools under way, by call id
        self._playing: set[str] = set()
        self._said: dict[str, str] = {}  # what the agent said, by response id
        self._phase = Phase.TALKING
        self._departure: Departure | None = None  # how the call leaves, from ENDING on
        self._fillers: dict[str, str] = {}  # call id → tag of its filler line
        self._entry: DigitEntry | None = None  # digits being keyed in
        self._silences = 0  # silences in a row in this state
        self._cancel_nudge = False  # the server's own nudge response is coming: cancel it
        self._cancelling: set[str] = set()  # responses we cancelled, until they are done
        # A response the server started without our metadata while a request of ours was
        # in flight: if it ends with the request still unanswered, it was our request.
        self._unclaimed: str | None = None
        self._silence_lines: set[str] = set()  # tags of the last silence step's requests
        self._ours: set[str] = set()  # responses we asked for, by id
        self._tool_calls = 0
        self._capped = False  # the cap on tool calls was reached (its fallback ran)
        self._time_is_up = False
        self._failures = 0  # tool results that failed, in a row
        self._engine_runs = 0

    def _move_to(self, phase: Phase, departure: Departure | None = None) -> None:
        """The one place that changes the call's phase and its departure. Entering ENDING
        takes the departure given; back to TALKING drops it; LEAVING takes a new one if given
        and otherwise keeps it, as ENDED does (its ``why`` is the record's). A departure that
        changes within a phase comes through here too: ``_move_to(self._phase, changed)``."""
        if phase is Phase.ENDING:
            assert departure is not None
            self._departure = departure
        elif phase is Phase.TALKING:
            self._departure = None
        elif departure is not None:
            self._departure = departure
        if phase is Phase.ENDED:
            self.ended = True
        self._phase = phase

    # -- the one entry point -------------------------------------------------------------
    def handle(self, event: CallEvent) -> list[Action]:
        if self.ended:
            return []
        self.events.append(event)
        return _HANDLERS[type(event)](self, event)

    @property
    def departing(self) -> bool:
        """A transfer or hangup is under way (or was made): the call is leaving."""
        return self._departure is not None

    @property
    def ended_by(self) -> str | None:
        """What is ending (or ended) the call, for its record: ``"tool NAME"`` (the
        ``opening`` tool too), ``TIME_LIMIT``, ``"tool limit"``, ``"silence"``, ``"collect
        timeout"``, ``"transfer fallback"``; None while nothing is."""
        return self._departure.why if self._departure is not None else None

    @property
    def referred(self) -> bool:
        """A REFER is out and the call has not come back from it: when the connection closes
        now, the transfer took the call."""
        return self._departure is not None and self._departure.referred is not None

    # -- responses -------------------------------------------------------------------------
    def _ask(self, actions: list[Action], say: str | None = None) -> str:
        """Queue a response (``say``: a line to say as written), append to ``actions`` what
        starts now, and return the request's tag (to find it again: its line, its filler)."""
        self._next_tag += 1
        tag = f"r{self._next_tag}"
        self._queue.append(RequestResponse(request=tag, say=say))
        if self._noting is not None:
            self._noting.add(tag)
        actions += self._pump()
        return tag

    @contextmanager
    def _noting_requests(self) -> Iterator[set[str]]:
        """The tags of the requests asked inside the ``with``."""
        self._noting = noted = set[str]()
        try:
            yield noted
        finally:
            self._noting = None

    def _pump(self) -> list[Action]:
        if self._active is not None or self._requested is not None or not self._queue:
            return []
        self._requested = self._queue.popleft()
        return [self._requested, StartTimer(Timer.REQUEST, REQUEST_WAIT_S)]

    def _request_lost(self) -> list[Action]:
        """The request in flight will not start (refused, or never answered): stop waiting
        for it. A line the call was to end with is not waited for either: the call ends."""
        requested, self._requested = self._requested, None
        actions: list[Action] = [CancelTimer(Timer.REQUEST)]
        departure = self._departure
        if requested is not None and departure and departure.line_request == requested.request:
            departure = departure.line_lost()
            if departure.line_response is None and self._active is not None:
                # A response is running that we did not recognise: perhaps our line with
                # its metadata lost. Let it be heard, then go on.
                self._move_to(self._phase, departure.line_playing(self._active))
                return actions + self._pump()
            actions += self._end(departure)
        return actions + self._pump()

    def _claim(self, response_id: str) -> list[Action]:
        requested, self._requested = self._requested, None
        departure = self._departure
        if requested is not None and departure and departure.line_request == requested.request:
            self._move_to(self._phase, departure.line_playing(response_id))
        return [CancelTimer(Timer.REQUEST)]

    def _hush(self) -> list[Action]:
        """Stop the agent mid-sentence (a key was pressed, the time is up): cancel what is
        being generated, and clear audio that still plays after its response is done."""
        if self._active is not None:
            self._cancelling.add(self._active)
            actions: list[Action] = [CancelResponse()]
            departure = self._departure
            if departure is not None and departure.calling_response == self._active:
                actions += self._call_off(departure)  # it waited for this response
            return actions
        return [StopAudio()] if self._playing else []

    def _on_SessionStarted(self, event: SessionStarted) -> list[Action]:
        actions = self._limit_timers()
        if self.opening is not None:
            return actions + self._run_engine_tool("opening", self.opening)
        greeting = None
        if self.flow.greeting:
            greeting = self._render(self.flow.greeting, self.context)
        self._ask(actions, greeting)
        return actions

    def _on_SessionResumed(self, event: SessionResumed) -> list[Action]:
        """A new connection to the same call: nothing will report what the old one was
        generating or playing, so stop waiting for it."""
        self._active = None
        self._playing.clear()
        self._cancelling.clear()
        actions: list[Action] = []
        for batch in list(self._batches.values()):
            batch.open = False  # its response.done will not come
            actions += self._settle(batch)
        departure = self._departure
        if departure is not None and departure.calling_response is not None:
            self._move_to(self._phase, departure.called())  # lost, not cut by the caller
            if departure.line_request is None:
                actions += self._leave()
        elif self._phase is Phase.ENDING and departure and departure.line_response is not None:
            actions += self._leave()  # its line was under way: heard or cut, go on
        return actions + self._pump()

    def _on_ResponseStarted(self, event: ResponseStarted) -> list[Action]:
        self._active = event.response_id
        if event.request is None and self._cancel_nudge:
            # The server's own "are you still there?": the silence ladder speaks instead.
            # However late it comes after the timeout, it is the nudge's.
            self._cancel_nudge = False
            self._cancelling.add(event.response_id)
            return [CancelResponse()]
        actions: list[Action] = []
        if event.request is None and self._requested is not None:
            self._unclaimed = event.response_id
        if event.request is not None:
            self._ours.add(event.response_id)
            if self._requested is not None and self._requested.request == event.request:
                self._requested = None
                actions.append(CancelTimer(Timer.REQUEST))
            departure = self._departure
            if departure and departure.line_request == event.request:
                self._move_to(self._phase, departure.line_playing(event.response_id))
        return actions

    def _on_PlatformError(self, event: PlatformError) -> list[Action]:
        requested = self._requested
        if requested is None:
            return []
        if event.code == ACTIVE_RESPONSE and event.request in (None, requested.request):
            if requested.say is not None or self._active in self._cancelling:
                # A line of ours, or a reply whose slot a response we are cancelling holds:
                # ask again once the running response is done.
                self._queue.appendleft(requested)
                self._requested = None
                return [CancelTimer(Timer.REQUEST)]
            # A free reply collided with one the server started by itself (after a tool
            # output, it sometimes does): that response is the reply. Asking again would
            # make the agent answer twice.
            return self._request_lost()
        if event.request == requested.request:
            return self._request_lost()  # any other refusal of our request: move on
        return []

    def _on_ResponseFinished(self, event: ResponseFinished) -> list[Action]:
        if self._active == event.response_id:
            self._active = None
        self._ours.discard(event.response_id)
        self._cancelling.discard(event.response_id)
        cut = event.status == "cancelled"
        batch = self._batches.get(event.response_id)
        actions: list[Action] = []
        if batch is not None:
            batch.open = False
            if cut:
                batch.quiet = True
                for call_id in sorted(batch.running):
                    actions += self._drop_filler(call_id)  # the caller has moved on
        if self._unclaimed == event.response_id:
            self._unclaimed = None
            if self._requested is not None:
                # No error came for our request and no response carried its tag: this one,
                # without its metadata, was it.
                actions += self._claim(event.response_id)
        departure = self._departure
        if departure and departure.calling_response == event.response_id:
            departure = departure.called()
            self._move_to(self._phase, departure)
            if cut:
                actions += self._call_off(departure)
            elif departure.line_request is None:
                actions += self._when_quiet()
            # else: its line, queued behind this response, goes out now
        elif departure and departure.line_response == event.response_id:
            if self._phase is Phase.LEAVING:
                pass  # its audio already stopped: the transfer or hangup is under way
            elif event.status != "completed":
                actions += self._leave()  # cut short: nothing more to wait for
            else:
                # Audio still playing ahead of the line is heard first: count it too.
                ahead = sum(
                    len(self._said.get(r, "")) for r in self._playing if r != event.response_id
                )
                spoken = len(self._said.get(event.response_id, "")) + ahead
                seconds = spoken / _CHARS_PER_SECOND + _HEARD_SLACK_S
                cap = min(max(seconds, _HEARD_MIN_S), _HEARD_MAX_S)
                actions.append(StartTimer(Timer.HEARD, cap))
        if batch is not None:
            actions += self._settle(batch)
        return actions + self._pump()

    # -- audio -----------------------------------------------------------------------------
    def _on_AudioStarted(self, event: AudioStarted) -> list[Action]:
        self._playing.add(event.response_id)
        return []

    def _on_AudioStopped(self, event: AudioStopped) -> list[Action]:
        return self._audio_over(event.response_id)

    def _on_AudioCleared(self, event: AudioCleared) -> list[Action]:
        return self._audio_over(event.response_id)

    def _audio_over(self, response_id: str) -> list[Action]:
        self._playing.discard(response_id)
        departure = self._departure
        if departure is None or self._phase is not Phase.ENDING:
            return []
        if departure.calling_response is not None:
            return []
        if departure.line_request is None and not self._playing:
            return self._leave()
        if departure.line_response == response_id:
            return self._leave()
        return []

    # -- timers ------------------------------------------------------------------------------
    def _on_TimerFired(self, event: TimerFired) -> list[Action]:
        name = event.name
        if isinstance(name, FillerTimer):
            return self._filler_due(name.call_id)
        if name is Timer.REQUEST and self._requested is not None:
            return self._request_lost()
        if name is Timer.HEARD and self._phase is Phase.ENDING:
            return self._leave()
        if name is Timer.TRANSFER and self._departure and self._departure.referred:
            return self._transfer_did_not_take()  # the REFER vanished: the call is still here
        if name is Timer.COLLECT and self._entry is not None:
            return self._entry_over(self._entry.stop())
        if name is Timer.TIME_WARNING and self._departure is None:
            line = self._render(self.flow.lines.time_warning, self.context)
            actions: list[Action] = []
            if line:
                self._ask(actions, line)
            return actions
        if name is Timer.TIME_UP:
            self._time_is_up = True
            return self._time_up()
        return []

    # -- the caller --------------------------------------------------------------------------
    def _on_CallerStartedSpeaking(self, event: CallerStartedSpeaking) -> list[Action]:
        self._silences = 0
        self._cancel_nudge = False  # what comes now answers the caller, not their silence
        if self._silence_lines:
            # "Are you still there?" not yet sent is moot now: the caller is speaking.
            self._queue = deque(r for r in self._queue if r.request not in self._silence_lines)
            self._silence_lines.clear()
        return []

    def _on_CallerSaid(self, event: CallerSaid) -> list[Action]:
        if event.text.strip():
            self._silences = 0
            self.transcript.append(("caller", event.text.strip()))
        return []

    def _on_AgentSaid(self, event: AgentSaid) -> list[Action]:
        self._said[event.response_id] = event.text
        if event.text.strip():
            self.transcript.append(("agent", event.text.strip()))
        return []

    def _on_CallEnded(self, event: CallEnded) -> list[Action]:
        self._move_to(Phase.ENDED)
        return []  # the driver cancels whatever timers are left

    # -- keypad ------------------------------------------------------------------------------
    def _on_KeypadPressed(self, event: KeypadPressed) -> list[Action]:
        if self._departure is not None and self._departure.calling_response is None:
            return []  # a transfer or hangup is under way: keys change nothing now
        # (One whose response is still being generated is dropped if a key stops it.)
        key = event.digit
        self._silences = 0
        collect = self.flow.collect_of(self.state)
        entry = self._entry
        if collect is not None and (entry or DigitEntry(collect)).takes(key):
            actions: list[Action] = []
            if entry is None:
                entry = self._entry = DigitEntry(collect)
                actions += self._hush()  # the caller is keying: stop talking over them
            verdict = entry.press(key)
            if verdict == "more":
                return [*actions, StartTimer(Timer.COLLECT, collect.timeout)]
            return actions + self._entry_over(verdict)
        tool_name = self.flow.keypad_of(self.state).get(key)
        tool = self.flow.tools.get(tool_name) if tool_name else None
        if tool is None or tool_name is None:
            return []  # a key that means nothing here
        note = AddNote(wording.key_pressed(key))
        return [*self._hush(), note, *self._run_engine_tool(tool_name, tool)]

    def _entry_over(self, verdict: str) -> list[Action]:
        entry, self._entry = self._entry, None
        if entry is None:
            return []
        collect = entry.collect
        actions: list[Action] = [CancelTimer(Timer.COLLECT)]
        if verdict == "complete":
            self.context["saved"][collect.save_as] = entry.value
            actions.append(AddNote(wording.keyed_in(collect.save_as, entry.value)))
            then = self.flow.tools.get(collect.then) if collect.then else None
            if then is not None and collect.then is not None:
                return actions + self._run_engine_tool(collect.then, then)
            self._ask(actions)
            return actions
        if collect.on_timeout is not None:
            return actions + self._run_step(collect.on_timeout, "collect timeout")
        note = wording.stopped_keying(collect.save_as, len(entry.keyed), entry.fewest)
        actions.append(AddNote(note))
        self._ask(actions)
        return actions

    # -- silence -----------------------------------------------------------------------------
    def _on_CallerSilent(self, event: CallerSilent) -> list[Action]:
        ladder = self.flow.silence_of(self.state)
        if ladder is None:
            return []  # no ladder here: the server's own nudge stands
        self._cancel_nudge = True
        if self._running or self._departure is not None or self._entry is not None:
            return []  # the caller is waiting for us, or keying: not a silence to count
        self._silences += 1
        step = ladder.steps[min(self._silences, len(ladder.steps)) - 1]
        with self._noting_requests() as asked:
            actions = self._run_step(step, "silence")
        self._silence_lines = asked
        return actions

    # -- steps and engine-run tools ------------------------------------------------------
    def _run_step(self, step: Step, why: str) -> list[Action]:
        """A step the engine runs by itself: say/instructions → tool → goto → hangup."""
        actions: list[Action] = []
        tag: str | None = None
        if step.say:
            line = self._render(step.say, self.context)
            if line:
                tag = self._ask(actions, line)
        elif step.instructions:
            text = self._render(step.instructions, self.context)
            if text:
                actions.append(AddNote(text))
                tag = self._ask(actions)
        if step.tool and step.tool in self.flow.tools:
            actions += self._run_engine_tool(step.tool, self.flow.tools[step.tool])
        if step.goto and self._departure is None:
            actions += self._goto(step.goto)
            if tag is None:
                self._ask(actions)  # let the agent speak in the new state
        if step.hangup and self._departure is None:
            actions += self._end(Departure("hangup", (), tag, why=why))
        return actions

    def _run_engine_tool(self, name: str, tool: Tool) -> list[Action]:
        self._engine_runs += 1
        call_id = f"engine-{self._engine_runs}"
        return self._begin_tool(_PendingTool(call_id, name, tool, {}, from_model=False))

    # -- tool calls from the model -----------------------------------------------------------
    def _on_ToolCallRequested(self, event: ToolCallRequested) -> list[Action]:
        """A function call is complete: start it now, while the model may still be speaking.
        Calls of one response start in the order their items complete."""
        if self._departure is not None:
            return []  # the call is being transferred or ended: nothing else runs
        if event.response_id in self._cancelling:
            return []  # we are stopping that response (a key, the time limit, the nudge)
        rid = event.response_id
        batch = self._batches.get(rid)
        if batch is None:
            # A response that is not running (as far as we know) has nothing to wait for.
            batch = self._batches[rid] = _Batch(rid, open=rid == self._active)
        batch.calls.append(event.call_id)
        self._batch_of[event.call_id] = batch
        return self._start_tool(event) + self._settle(batch)

    def _settle(self, batch: _Batch) -> list[Action]:
        """Once a batch's response has ended and every service answered: one response for
        all its outputs (none after a cancelled response, or while the call is ending)."""
        if batch.open or batch.running:
            return []
        self._batches.pop(batch.response_id, None)
        for call_id in batch.calls:
            self._batch_of.pop(call_id, None)
        actions: list[Action] = []
        if batch.has_output and not batch.quiet and self._departure is None:
            self._ask(actions)
        return actions

    def _output_sent(self, call_id: str) -> list[Action]:
        """An output of a model's call went back: its batch will want a response. A call
        with no batch left (its response was lost with the connection) asks at once."""
        batch = self._batch_of.get(call_id)
        if batch is not None:
            batch.has_output = True
            return []
        actions: list[Action] = []
        if self._departure is None:
            self._ask(actions)
        return actions

    def _fail(self, call_id: str, told: Told, *, count: bool = True) -> list[Action]:
        output = SendToolOutput(call_id, wording.failure_output(told))
        actions: list[Action] = [output, *self._output_sent(call_id)]
        return actions + (self._count_result(ok=False) if count else [])

    def _start_tool(self, call: ToolCallRequested) -> list[Action]:
        self._tool_calls += 1
        if self._tool_calls > self.flow.limits.tool_calls:
            refused = self._fail(call.call_id, wording.TOOL_LIMIT_REACHED, count=False)
            if self._capped:
                return refused
            self._capped = True
            return refused + self._limit_reached()
        offered = self.flow.tools_of(self.state)
        if call.name not in offered or call.name not in self.flow.tools:
            return self._fail(call.call_id, wording.unknown_tool(call.name, offered))
        try:
            args = json.loads(call.arguments or "{}")
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            args = None
        if not isinstance(args, dict):
            return self._fail(call.call_id, wording.INVALID_ARGUMENTS)
        tool = self.flow.tools[call.name]
        missing = [n for n, p in tool.parameters.items() if p.required and n not in args]
        if missing:
            return self._fail(call.call_id, wording.missing_arguments(missing))
        return self._begin_tool(_PendingTool(call.call_id, call.name, tool, args, True))

    def _begin_tool(self, pending: _PendingTool) -> list[Action]:
        tool = pending.tool
        actions: list[Action] = []
        ends_call = bool(tool.transfer or tool.hangup)
        if tool.say and not ends_call:
            line = self._render(tool.say, self._tool_context(pending.args))
            if line:
                self._ask(actions, line)
        if tool.http is not None:
            self._running[pending.call_id] = pending
            batch = self._batch_of.get(pending.call_id) if pending.from_model else None
            if batch is not None:
                batch.running.add(pending.call_id)
            context = self._tool_context(pending.args)
            actions.append(RunHttpTool(pending.call_id, pending.name, tool.http, context))
            if tool.filler is not None:
                actions.append(StartTimer(FillerTimer(pending.call_id), tool.filler.after))
            return actions
        self._failures = 0  # a tool that ran is a success
        return actions + self._after_http(pending, _output(ok=True), http=False)

    def _on_ToolFinished(self, event: ToolFinished) -> list[Action]:
        pending = self._running.pop(event.call_id, None)
        if pending is None:
            return []
        batch = self._batch_of.get(event.call_id) if pending.from_model else None
        if batch is not None:
            batch.running.discard(event.call_id)
        actions: list[Action] = [*self._drop_filler(event.call_id)]
        if event.ok and pending.tool.http and pending.tool.http.save_as:
            self.context["saved"][pending.tool.http.save_as] = event.saved
        if not event.ok and not self._departure:
            # The service failed: the tool stops there (no goto, transfer or hangup on a
            # failure) and the model is told, so it can apologise or try again.
            actions += self._hand_result(pending, event.output)
        else:
            actions += self._after_http(pending, event.output, http=True)
        actions += self._count_result(ok=event.ok)
        if batch is not None:
            actions += self._settle(batch)
        return actions

    def _hand_result(self, pending: _PendingTool, output: str) -> list[Action]:
        """Hand a tool's result to the model: its function call's output, or (for a tool the
        engine ran, which has no function call) a note; a response follows."""
        if pending.from_model:
            return [SendToolOutput(pending.call_id, output), *self._output_sent(pending.call_id)]
        actions: list[Action] = [AddNote(wording.tool_result(pending.name, output))]
        self._ask(actions)
        return actions

    def _after_http(self, pending: _PendingTool, output: str, *, http: bool) -> list[Action]:
        tool = pending.tool
        if self._departure is not None:
            return [SendToolOutput(pending.call_id, output)] if pending.from_model else []
        actions: list[Action] = []
        if tool.goto is not None:
            actions += self._goto(tool.goto)
        if tool.transfer or tool.hangup:
            return actions + self._end_with(pending, output)
        if pending.from_model or http:
            return actions + self._hand_result(pending, output)
        if not tool.say:
            # Nothing was said: let the agent speak (in the new state, after a key press).
            self._ask(actions)
        return actions

    def _count_result(self, *, ok: bool) -> list[Action]:
        if ok:
            self._failures = 0
            return []
        self._failures += 1
        if self._failures < self.flow.limits.tool_failures:
            return []
        self._failures = 0
        return self._limit_reached()

    # -- fillers -------------------------------------------------------------------------
    def _filler_due(self, call_id: str) -> list[Action]:
        pending = self._running.get(call_id)
        if pending is None or pending.tool.filler is None or self._departure is not None:
            return []
        batch = self._batch_of.get(call_id)
        if batch is not None and batch.quiet:
            return []  # its response was cut short: the caller has moved on
        line = self._render(pending.tool.filler.say, self._tool_context(pending.args))
        if not line:
            return []
        actions: list[Action] = []
        self._fillers[call_id] = self._ask(actions, line)
        return actions

    def _drop_filler(self, call_id: str) -> list[Action]:
        """The service answered: a filler line not yet sent would now be late, so drop it."""
        tag = self._fillers.pop(call_id, None)
        if tag is not None:
            self._queue = deque(r for r in self._queue if r.request != tag)
        return [CancelTimer(FillerTimer(call_id))]

    # -- states ------------------------------------------------------------------------------
    def _goto(self, state: str) -> list[Action]:
        self.state = state
        self.context["call"]["state"] = state
        self._silences = 0
        actions: list[Action] = []
        if self._entry is not None:
            self._entry = None
            actions.append(CancelTimer(Timer.COLLECT))
        return [*actions, self._session(idle_for(self.flow, state))]

    def _session(self, idle: IdleTimeout | None) -> UpdateSession:
        """The current state's session, with this caller-silence timeout."""
        state = self.state
        try:
            instructions = instructions_for(self.flow, state, self.context)
        except TemplateError:
            instructions = self.flow.instructions
        return UpdateSession(instructions, tools_for(self.flow, state), idle)

    # -- the departure: a transfer or hangup ------------------------------------------------
    def _end_with(self, pending: _PendingTool, output: str) -> list[Action]:
        tool = pending.tool
        context = self._tool_context(pending.args)
        targets, refused = transfer_targets(self.flow, tool, pending.args, context)
        if tool.transfer and not targets:
            if pending.from_model:
                return self._fail(pending.call_id, refused or wording.TRANSFER_UNAVAILABLE)
            return self._no_transfer_left(tool.fallback)
        actions: list[Action] = []
        kind = "transfer" if targets else "hangup"
        batch = self._batch_of.get(pending.call_id) if pending.from_model else None
        if pending.from_model:
            actions.append(SendToolOutput(pending.call_id, output))
            if batch is not None and batch.quiet:
                # Its response was cut short before the service answered: as for a
                # transfer or hangup still waiting for that response, it is not made.
                return [*actions, AddNote(wording.not_made(kind))]
        line = self._render(tool.say, context) if tool.say else None
        tag = None
        if line:
            tag = self._ask(actions, line)
        departure = Departure(
            kind,
            tuple(targets),
            tag,
            fallback=tool.fallback,
            why=f"tool {pending.name}",
            calling_response=batch.response_id if batch is not None and batch.open else None,
        )
        return actions + self._end(departure)

    def _end(self, departure: Departure) -> list[Action]:
        """Start ending the call (phase ENDING): the departure leaves after its line (if any)
        has been heard, or once the agent's audio stops, or at once when nothing is playing."""
        self._move_to(Phase.ENDING, departure)
        if departure.calling_response is not None:
            return []  # the end of the response that called it moves on
        if departure.line_request is not None:
            return []  # the line's response finishing or its audio stopping moves on
        return self._when_quiet()

    def _when_quiet(self) -> list[Action]:
        """The REFER or hangup now, or once the audio still playing has been heard."""
        if not self._playing:
            return self._leave()
        return [StartTimer(Timer.HEARD, _HEARD_MAX_S)]

    def _call_off(self, departure: Departure) -> list[Action]:
        """The response that called a transfer or hangup was cut short (the caller spoke or
        pressed a key) before it ended: the departure is called off. Neither its line nor the
        REFER or hangup is made, and the model, which was told the tool ran, is told it did
        not."""
        self._move_to(Phase.TALKING)
        if departure.line_request is not None:
            self._queue = deque(r for r in self._queue if r.request != departure.line_request)
        return [AddNote(wording.not_made(departure.kind))]

    def _leave(self) -> list[Action]:
        """The line was heard (or there is none): send the REFER or hangup, and move on to
        LEAVING."""
        departure = self._departure
        if departure is None or self._phase is not Phase.ENDING:
            return []
        actions: list[Action] = [CancelTimer(Timer.HEARD)]
        if departure.kind == "transfer" and departure.targets:
            departure = departure.referring()
            assert departure.referred is not None
            wait = self.flow.trunk.transfer_wait
            actions += [Refer(departure.referred), StartTimer(Timer.TRANSFER, wait)]
            idle = idle_for(self.flow, self.state)
            if not departure.on_hold and idle is not None and idle.ms is not None:
                # The caller is on hold while the target rings: no nudge, no silence step.
                departure = departure.holding()
                actions.append(SetIdleTimeout(IdleTimeout(None)))
            self._move_to(Phase.LEAVING, departure)
            return actions
        self._move_to(Phase.LEAVING)
        return [*actions, Hangup("the flow ended the call")]

    def _on_ReferFailed(self, event: ReferFailed) -> list[Action]:
        departure = self._departure
        if departure is None or departure.referred != event.target:
            return []
        if not event.certain:
            # No answer is not a refusal: the REFER may be ringing. Another target only
            # after the transfer's wait, if the call is still here then.
            return []
        return self._transfer_did_not_take()

    def _transfer_did_not_take(self) -> list[Action]:
        """The REFER failed or the call did not leave: tell the caller, try the next target,
        and when none is left, run the fallback."""
        departure = self._departure
        assert departure is not None
        actions: list[Action] = [CancelTimer(Timer.TRANSFER)]
        if departure.on_hold:  # the caller is back with the agent
            back = idle_for(self.flow, self.state)
            if back is not None:
                actions.append(SetIdleTimeout(back))
        if self._time_is_up:
            self._move_to(Phase.TALKING)  # the time limit passed while the transfer was tried
            return actions + self._time_up()
        if departure.targets:
            # The next target, after a line of its own: no REFER out, the caller off hold.
            line = self._render(self.flow.lines.transfer_retry, self.context)
            tag = self._ask(actions, line) if line else None
            self._move_to(Phase.ENDING, departure.next_target(tag))
            return actions if tag is not None else actions + self._leave()
        self._move_to(Phase.TALKING)
        return actions + self._no_transfer_left(departure.fallback)

    def _no_transfer_left(self, fallback: Step | None) -> list[Action]:
        if fallback is not None:
            return self._run_step(fallback, "transfer fallback")
        line = self._render(self.flow.lines.transfer_failed, self.context)
        actions: list[Action] = []
        self._ask(actions, line)
        return actions

    # -- limits ----------------------------------------------------------------------------
    def _limit_timers(self) -> list[Action]:
        limits = self.flow.limits
        actions: list[Action] = [StartTimer(Timer.TIME_UP, limits.call_minutes * 60)]
        if 0 < limits.warn_minutes < limits.call_minutes:
            warn_at = (limits.call_minutes - limits.warn_minutes) * 60
            actions.append(StartTimer(Timer.TIME_WARNING, warn_at))
        return actions

    def _time_up(self) -> list[Action]:
        departure = self._departure
        if departure is not None and departure.referred is not None:
            # A REFER is out and may be ringing: it is left to finish. If it does not take,
            # the call ends then (``_transfer_did_not_take``), not the fallback.
            return []
        if self._phase is Phase.LEAVING:
            return [Hangup("the call's time limit")]  # a hangup that has not taken yet
        self._move_to(Phase.TALKING)  # whatever was about to end the call, the time limit ends it
        actions = self._hush()
        self._queue.clear()  # nothing else is said first
        line = self._render(self.flow.lines.time_up, self.context)
        tag = None
        if line:
            tag = self._ask(actions, line)
        return actions + self._end(Departure("hangup", (), tag, why=TIME_LIMIT))

    def _limit_reached(self) -> list[Action]:
        if self._departure is not None:
            return []
        fallback = self.flow.limits.fallback
        if fallback is not None:
            return self._run_step(fallback, "tool limit")
        line = self._render(self.flow.lines.tools_failing, self.context)
        tag = None
        actions: list[Action] = []
        if line:
            tag = self._ask(actions, line)
        return actions + self._end(Departure("hangup", (), tag, why="tool limit"))

    # -- helpers ---------------------------------------------------------------------------
    def _tool_context(self, args: dict[str, Any]) -> dict[str, Any]:
        return {**self.context, "args": args}

    def _render(self, template: str, context: dict[str, Any]) -> str | None:
        try:
            return render(template, context).strip() or None
        except TemplateError:
            return None  # lint catches what it can; at run time a failed line is skipped


_HANDLERS: dict[type, Callable[[CallMachine, Any], list[Action]]] = {
    SessionStarted: CallMachine._on_SessionStarted,
    SessionResumed: CallMachine._on_SessionResumed,
    ResponseStarted: CallMachine._on_ResponseStarted,
    ToolCallRequested: CallMachine._on_ToolCallRequested,
    ResponseFinished: CallMachine._on_ResponseFinished,
    AudioStarted: CallMachine._on_AudioStarted,
    AudioStopped: CallMachine._on_AudioStopped,
    AudioCleared: CallMachine._on_AudioCleared,
    CallerStartedSpeaking: CallMachine._on_CallerStartedSpeaking,
    CallerSaid: CallMachine._on_CallerSaid,
    AgentSaid: CallMachine._on_AgentSaid,
    KeypadPressed: CallMachine._on_KeypadPressed,
    CallerSilent: CallMachine._on_CallerSilent,
    PlatformError: CallMachine._on_PlatformError,
    CallEnded: CallMachine._on_CallEnded,
    ToolFinished: CallMachine._on_ToolFinished,
    ReferFailed: CallMachine._on_ReferFailed,
    TimerFired: CallMachine._on_TimerFired,
}
"""Every event the machine takes, and its handler: explicit, so a renamed or new event type
without one fails loudly (tests check the table covers ``CallEvent``)."""

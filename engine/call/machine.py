"""``CallMachine``: one call's decisions, with no I/O.

Events go in (``handle``), actions come out. The machine never sleeps, reads a clock or
touches a socket: waiting is a ``StartTimer`` action and a ``TimerFired`` event later, so every
transition is a plain unit test, and ``engine test`` scenarios can drive the very same class.

What it owns:
- the greeting, and one active response at a time: a response is requested only when none is
  running; a request the server refused because one was (``conversation_already_has_active_
  response``) is asked again after the running one is done;
- tool calls, taken from completed function-call items of responses that were not cancelled,
  run when their response is done, then one new response for the whole batch;
- a tool's steps: ``say`` → ``http`` → ``goto`` → ``transfer``/``hangup``. For a tool that ends
  the call, ``say`` is its last line and the transfer or hangup waits until the caller has
  heard it (the audio of that response stopped, or a cap for calls that never report it);
- the transcript and the list of events seen.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..flow.model import Flow, Tool
from ..flow.numbers import is_e164
from ..flow.templates import TemplateError, render
from .actions import (
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
from .events import (
    AgentSaid,
    AudioCleared,
    AudioStarted,
    AudioStopped,
    CallEnded,
    CallerSaid,
    CallEvent,
    PlatformError,
    ReferFailed,
    ResponseFinished,
    ResponseStarted,
    SessionStarted,
    TimerFired,
    ToolCallRequested,
    ToolFinished,
)
from .session import instructions_for, tools_for

__all__ = ["HEARD_TIMER", "CallMachine"]

HEARD_TIMER = "heard"
TRANSFER_FAILED_LINE = (
    "I'm sorry, I couldn't transfer your call just now. Is there anything else I can help you with?"
)
ACTIVE_RESPONSE = "conversation_already_has_active_response"
# Speech runs at about 15 characters a second; the cap on waiting for a line to be heard
# allows for that plus slack, for calls whose platform never reports the audio stopped.
_CHARS_PER_SECOND = 12.0
_HEARD_SLACK_S = 2.0
_HEARD_MIN_S, _HEARD_MAX_S = 3.0, 30.0


def _output(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False)


@dataclass
class _Ending:
    kind: str  # "transfer" or "hangup"
    target: str | None
    line_request: str | None  # our tag of the goodbye/transfer line, if there is one
    line_response: str | None = None
    done: bool = False


@dataclass
class _PendingTool:
    call: ToolCallRequested
    tool: Tool
    args: dict[str, Any]


@dataclass
class CallMachine:
    flow: Flow
    context: dict[str, Any]
    state: str | None = None
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
        self._calls: dict[str, list[ToolCallRequested]] = {}  # by response id
        self._running: dict[str, _PendingTool] = {}  # http tools under way, by call id
        self._batch_wants_response = False
        self._playing: set[str] = set()
        self._said: dict[str, str] = {}  # what the agent said, by response id
        self._tag_of: dict[str, str] = {}  # response id → our tag
        self._ending: _Ending | None = None

    # -- the one entry point -------------------------------------------------------------
    def handle(self, event: CallEvent) -> list[Action]:
        if self.ended:
            return []
        self.events.append(event)
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        return handler(event) if handler else []

    @property
    def ending(self) -> bool:
        return self._ending is not None

    # -- responses -------------------------------------------------------------------------
    def _ask(self, say: str | None = None) -> tuple[list[Action], str]:
        self._next_tag += 1
        request = RequestResponse(request=f"r{self._next_tag}", say=say)
        self._queue.append(request)
        return self._pump(), request.request

    def _pump(self) -> list[Action]:
        if self._active is not None or self._requested is not None or not self._queue:
            return []
        self._requested = self._queue.popleft()
        return [self._requested]

    def _on_SessionStarted(self, event: SessionStarted) -> list[Action]:
        greeting = None
        if self.flow.greeting:
            greeting = self._render(self.flow.greeting, self.context)
        actions, _ = self._ask(greeting)
        return actions

    def _on_ResponseStarted(self, event: ResponseStarted) -> list[Action]:
        self._active = event.response_id
        if event.request is not None:
            self._tag_of[event.response_id] = event.request
            if self._requested is not None and self._requested.request == event.request:
                self._requested = None
            if self._ending and self._ending.line_request == event.request:
                self._ending.line_response = event.response_id
        return []

    def _on_PlatformError(self, event: PlatformError) -> list[Action]:
        requested = self._requested
        if (
            event.code == ACTIVE_RESPONSE
            and requested is not None
            and event.request in (None, requested.request)
        ):
            # Benign: the server started a response of its own first. Ask again after it.
            self._queue.appendleft(requested)
            self._requested = None
        return []

    def _on_ResponseFinished(self, event: ResponseFinished) -> list[Action]:
        if self._active == event.response_id:
            self._active = None
        calls = self._calls.pop(event.response_id, [])
        actions: list[Action] = []
        if self._ending and self._ending.line_response == event.response_id:
            if self._ending.done:
                pass  # its audio already stopped: the transfer or hangup is under way
            elif event.status != "completed":
                actions += self._finish_ending()  # cut short: nothing more to wait for
            else:
                spoken = self._said.get(event.response_id, "")
                seconds = len(spoken) / _CHARS_PER_SECOND + _HEARD_SLACK_S
                cap = min(max(seconds, _HEARD_MIN_S), _HEARD_MAX_S)
                actions.append(StartTimer(HEARD_TIMER, cap))
        elif event.status in ("completed", "incomplete") and calls:
            actions += self._run_batch(calls)
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
        ending = self._ending
        if ending is None or ending.done:
            return []
        if ending.line_request is None and not self._playing:
            return self._finish_ending()
        if ending.line_response == response_id:
            return self._finish_ending()
        return []

    def _on_TimerFired(self, event: TimerFired) -> list[Action]:
        if event.name == HEARD_TIMER and self._ending and not self._ending.done:
            return self._finish_ending()
        return []

    # -- transcript --------------------------------------------------------------------------
    def _on_CallerSaid(self, event: CallerSaid) -> list[Action]:
        if event.text.strip():
            self.transcript.append(("caller", event.text.strip()))
        return []

    def _on_AgentSaid(self, event: AgentSaid) -> list[Action]:
        self._said[event.response_id] = event.text
        if event.text.strip():
            self.transcript.append(("agent", event.text.strip()))
        return []

    def _on_ReferFailed(self, event: ReferFailed) -> list[Action]:
        # The caller was told they are being transferred: say it did not work, carry on.
        self._ending = None
        return self._ask(TRANSFER_FAILED_LINE)[0]

    def _on_CallEnded(self, event: CallEnded) -> list[Action]:
        self.ended = True
        return [CancelTimer(HEARD_TIMER)]

    # -- tools -----------------------------------------------------------------------------
    def _on_ToolCallRequested(self, event: ToolCallRequested) -> list[Action]:
        self._calls.setdefault(event.response_id, []).append(event)
        return []

    def _run_batch(self, calls: list[ToolCallRequested]) -> list[Action]:
        actions: list[Action] = []
        for call in calls:
            if self._ending is not None:
                break  # the call is being transferred or ended: nothing else runs
            actions += self._start_tool(call)
        if self._batch_wants_response and not self._running and self._ending is None:
            self._batch_wants_response = False
            actions += self._ask()[0]
        return actions

    def _fail(self, call: ToolCallRequested, error: str, message: str) -> list[Action]:
        self._batch_wants_response = True
        return [SendToolOutput(call.call_id, _output(ok=False, error=error, message=message))]

    def _start_tool(self, call: ToolCallRequested) -> list[Action]:
        offered = self.flow.tools_of(self.state)
        if call.name not in offered or call.name not in self.flow.tools:
            names = ", ".join(offered) or "none"
            return self._fail(
                call,
                "unknown_tool",
                f"There is no tool named {call.name!r} right now. The tools you can use "
                f"are: {names}.",
            )
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            return self._fail(
                call,
                "invalid_arguments",
                "The arguments were not a valid JSON object. Call the tool again with "
                "valid JSON arguments.",
            )
        tool = self.flow.tools[call.name]
        missing = [n for n, p in tool.parameters.items() if p.required and n not in args]
        if missing:
            return self._fail(
                call,
                "missing_arguments",
                f"Missing required arguments: {', '.join(missing)}. Ask the caller for them, "
                "then call the tool again.",
            )
        pending = _PendingTool(call, tool, args)
        actions: list[Action] = []
        ends_call = bool(tool.transfer or tool.hangup)
        if tool.say and not ends_call:
            line = self._render(tool.say, self._tool_context(args))
            if line:
                actions += self._ask(line)[0]
        if tool.http is not None:
            self._running[call.call_id] = pending
            context = self._tool_context(args)
            return [*actions, RunHttpTool(call.call_id, call.name, tool.http, context)]
        return actions + self._after_http(pending, _output(ok=True))

    def _on_ToolFinished(self, event: ToolFinished) -> list[Action]:
        pending = self._running.pop(event.call_id, None)
        if pending is None:
            return []
        if event.ok and pending.tool.http and pending.tool.http.save_as:
            self.context["saved"][pending.tool.http.save_as] = event.saved
        if not event.ok and (pending.tool.transfer or pending.tool.hangup) and not self._ending:
            # The service failed: tell the model instead of ending the call on a failure.
            self._batch_wants_response = True
            actions: list[Action] = [SendToolOutput(event.call_id, event.output)]
        else:
            actions = self._after_http(pending, event.output)
        if self._batch_wants_response and not self._running and self._ending is None:
            self._batch_wants_response = False
            actions += self._ask()[0]
        return actions

    def _after_http(self, pending: _PendingTool, output: str) -> list[Action]:
        tool, call = pending.tool, pending.call
        if self._ending is not None:
            return [SendToolOutput(call.call_id, output)]
        actions: list[Action] = []
        if tool.goto is not None:
            actions += self._goto(tool.goto)
        if tool.transfer or tool.hangup:
            return actions + self._end_with(pending, output)
        self._batch_wants_response = True
        return [*actions, SendToolOutput(call.call_id, output)]

    def _goto(self, state: str) -> list[Action]:
        self.state = state
        self.context["call"]["state"] = state
        try:
            instructions = instructions_for(self.flow, state, self.context)
        except TemplateError:
            instructions = self.flow.instructions
        return [UpdateSession(instructions, tools_for(self.flow, state))]

    def _end_with(self, pending: _PendingTool, output: str) -> list[Action]:
        tool, call = pending.tool, pending.call
        context = self._tool_context(pending.args)
        target = None
        if tool.transfer:
            target = _transfer_uri(self._render(tool.transfer, context) or "")
            if target is None:
                return self._fail(
                    call,
                    "transfer_unavailable",
                    "The transfer cannot be made right now. Apologise to the caller and "
                    "offer another way to help.",
                )
        kind = "transfer" if target else "hangup"
        actions: list[Action] = [SendToolOutput(call.call_id, output)]
        line = self._render(tool.say, context) if tool.say else None
        self._ending = _Ending(kind, target, None)
        if line:
            asked, tag = self._ask(line)
            self._ending.line_request = tag
            return actions + asked
        if not self._playing:
            return actions + self._finish_ending()
        return [*actions, StartTimer(HEARD_TIMER, _HEARD_MAX_S)]

    def _finish_ending(self) -> list[Action]:
        ending = self._ending
        if ending is None or ending.done:
            return []
        ending.done = True
        actions: list[Action] = [CancelTimer(HEARD_TIMER)]
        if ending.kind == "transfer" and ending.target:
            return [*actions, Refer(ending.target)]
        return [*actions, Hangup("the flow ended the call")]

    # -- helpers ---------------------------------------------------------------------------
    def _tool_context(self, args: dict[str, Any]) -> dict[str, Any]:
        return {**self.context, "args": args}

    def _render(self, template: str, context: dict[str, Any]) -> str | None:
        try:
            return render(template, context).strip() or None
        except TemplateError:
            return None  # lint catches what it can; at run time a failed line is skipped


def _transfer_uri(target: str) -> str | None:
    """A REFER target: sip:/sips:/tel: URIs as written, a bare E.164 number as tel:."""
    target = target.strip()
    if target.lower().startswith(("sip:", "sips:", "tel:")):
        return target
    if is_e164(target):
        return f"tel:{target}"
    return None

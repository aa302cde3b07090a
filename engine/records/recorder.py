"""``CallRecorder``: one call's record, built from what its driver sees.

The engine makes one for every call it decides on (``CallRecords.decided``), answered or
not. For a call that runs, the driver shows it each event with the actions the machine
answered it with (``saw``, the ``CallObserver`` seam of ``engine.call.driver``). On the
call's path it only notes what happened, a small tuple or two per event: no formatting, no
masking, no JSON, no I/O. ``finish`` builds the ``CallRecord`` once the call is over: its
parts and the timeline's lines (``parts``), the masking (``redact``), the outcome
(``outcome``).

What it reads besides events and actions: the machine's current state (to see a state
entered) and, at the end, what ended the call (``CallMachine.ended_by``), whether a REFER is
out (``referred``), and the digits kept by a `collect`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ..call.actions import Action, Refer, RequestResponse, RunHttpTool, SendToolOutput
from ..call.answer import Answer, Refusal
from ..call.context import HeaderMap
from ..call.digits import DIGITS
from ..call.events import (
    AgentSaid,
    CallEnded,
    CallerSaid,
    CallerSilent,
    CallerStartedSpeaking,
    CallEvent,
    KeypadPressed,
    ReferFailed,
    SessionResumed,
    TimerFired,
    ToolCallRequested,
    ToolFinished,
)
from ..call.machine import (
    COLLECT_TIMER,
    TIME_LIMIT,
    TIME_UP_TIMER,
    TIME_WARNING_TIMER,
    TRANSFER_TIMER,
    CallMachine,
)
from ..call.masking import Secrets, flow_secrets
from ..call.timers import FillerTimer
from ..flow.model import Flow
from ..flow.numbers import normalize_number
from .outcome import outcome_of
from .parts import (
    KeyNote,
    ToolNote,
    TransferNote,
    decision_step,
    ended_step,
    step,
    tool_call,
    when,
)
from .record import CallRecord, TranscriptLine, TransferTry
from .redact import Redactor, parse_json

__all__ = ["CallRecorder"]

# A kept SIP header value is cut to this: a carrier (or a caller) controls it.
HEADER_CHARS = 256


class CallRecorder:
    """Notes one call as it happens; ``finish`` turns the notes into its record."""

    def __init__(
        self,
        call_id: str,
        received_at: float,
        decision: Answer | Refusal,
        sip_headers: Sequence[tuple[str, str]],
        default_country_code: str | None = None,
    ) -> None:
        self.call_id = call_id
        self.decision = decision
        self._received = received_at  # seconds since the epoch
        self._headers = sip_headers
        self._country = default_country_code
        self._machine: CallMachine | None = None
        self._answered: float | None = None
        self._state: str | None = None
        # The call's timeline, in order: (when, kind, what). Kinds as in ``Step``.
        self._steps: list[tuple[float, str, Any]] = []
        self._tools: dict[str, ToolNote] = {}
        self._transfers: list[TransferNote] = []
        self._ended: CallEnded | None = None
        self._ended_at: float | None = None
        self._silences = 0
        self._entry: list[str] = []  # digits of the `collect` entry being keyed
        self._entries: list[str] = []  # the entries keyed, for masking their values
        self._caller_turn = False  # the caller has said or keyed something
        self._served = False  # … and the agent has answered it
        self._rejected: tuple[int, str, str] | None = None  # OpenAI refused the session
        self._transcript = True
        self._finished = False
        self.error: BaseException | None = None  # what stopped the call's task

    # -- the engine's side ---------------------------------------------------------------
    def watch(self, machine: CallMachine) -> CallRecorder:
        """The call was answered and runs on ``machine``: note from now on."""
        now = time.time()
        self._machine = machine
        self._answered = now
        self._transcript = machine.flow.records.transcript
        self._state = machine.state
        if machine.state is not None and machine.opening is None:
            # (A call answered only for an opening is in no state of the conversation.)
            self._steps.append((now, "state", machine.state))
        return self

    def failed(self, error: BaseException) -> None:
        """The call's task raised ``error`` (a bug): the call failed."""
        self.error = error

    def refused_session(self, status: int, reason: str) -> None:
        """OpenAI refused the call's session, so it is rejected with ``status``."""
        self._rejected = (status, reason, "accept_refused")

    # -- the call's path: one call per event, cheap --------------------------------------
    def saw(self, event: CallEvent, actions: list[Action]) -> None:
        now = time.time()
        on = _ON.get(type(event))
        if on is not None:
            on(self, event, actions, now)
        for action in actions:
            kind = type(action)
            if kind is RunHttpTool:
                self._http_started(action, now)  # type: ignore[arg-type]
            elif kind is SendToolOutput:
                tool = self._tools.get(action.call_id)  # type: ignore[union-attr]
                if tool is not None and tool.answer is None:
                    tool.answer = action.output  # type: ignore[union-attr]
            elif kind is Refer:
                transfer = TransferNote(action.target, now)  # type: ignore[union-attr]
                self._transfers.append(transfer)
                self._steps.append((now, "transfer", transfer))
        machine = self._machine
        if machine is not None and machine.state != self._state:
            self._state = machine.state
            self._silences = 0
            self._entry_over()
            self._steps.append((now, "state", machine.state))

    def _entry_over(self) -> None:
        if self._entry:
            self._entries.append("".join(self._entry))
            self._entry = []

    def _http_started(self, action: RunHttpTool, now: float) -> None:
        if action.call_id not in self._tools:  # a tool the engine runs by itself
            tool = ToolNote(action.call_id, action.tool, now, None)
            self._tools[action.call_id] = tool
            self._steps.append((now, "tool", tool))

    def _tool_requested(self, event: ToolCallRequested, actions: list[Action], now: float) -> None:
        tool = ToolNote(event.call_id, event.name, now, event.arguments)
        self._tools[event.call_id] = tool
        self._steps.append((now, "tool", tool))

    def _tool_finished(self, event: ToolFinished, actions: list[Action], now: float) -> None:
        tool = self._tools.get(event.call_id)
        if tool is not None:
            tool.finished = event
            tool.answer = event.output

    def _caller_said(self, event: CallerSaid, actions: list[Action], now: float) -> None:
        if event.text.strip():
            self._caller_turn = True
            self._silences = 0
            if self._transcript:
                self._steps.append((now, "heard", event.text.strip()))

    def _agent_said(self, event: AgentSaid, actions: list[Action], now: float) -> None:
        if event.text.strip():
            self._served = self._served or self._caller_turn
            if self._transcript:
                self._steps.append((now, "said", event.text.strip()))

    def _speaking(self, event: CallerStartedSpeaking, actions: list[Action], now: float) -> None:
        self._caller_turn = True
        self._silences = 0

    def _key(self, event: KeypadPressed, actions: list[Action], now: float) -> None:
        self._caller_turn = True
        self._silences = 0
        flow = self._flow
        state = self._state
        collect = flow.collect_of(state) if flow is not None else None
        into = collect.save_as if collect is not None and event.digit in DIGITS else None
        if into is not None and collect is not None:
            self._entry.append(event.digit)
            if len(self._entry) >= collect.digits:
                self._entry_over()
        else:
            self._entry_over()  # the finish key, or a key of the keypad
        tool = None
        if into is None and actions and flow is not None:
            tool = flow.keypad_of(state).get(event.digit)
        self._steps.append((now, "key", KeyNote(event.digit, state, into, tool)))

    def _silent(self, event: CallerSilent, actions: list[Action], now: float) -> None:
        if actions:  # a silence step ran (not one while a tool runs, keys or a transfer)
            self._silences += 1
            self._steps.append((now, "silence", (self._silences, self._state)))

    def _timer(self, event: TimerFired, actions: list[Action], now: float) -> None:
        name = event.name
        if name == COLLECT_TIMER:
            self._entry_over()
        elif name == TRANSFER_TIMER:
            out = self._transfers[-1] if self._transfers else None
            referred = self._machine is not None and self._machine.referred
            if out is not None and out.result == "pending" and not referred:
                out.result = "no_answer"
                out.detail = "the call did not leave within the trunk's transfer_wait"
        elif isinstance(name, FillerTimer):
            if any(type(a) is RequestResponse for a in actions):
                tool = self._tools.get(name.call_id)
                self._steps.append((now, "filler", tool.name if tool else None))
        elif name == TIME_UP_TIMER:
            self._steps.append((now, "note", "the call's time limit was reached"))
        elif name == TIME_WARNING_TIMER and actions:
            self._steps.append((now, "note", "the caller was told the time is nearly up"))

    def _refer_failed(self, event: ReferFailed, actions: list[Action], now: float) -> None:
        for out in reversed(self._transfers):
            if out.target == event.target and out.result == "pending":
                if event.certain:
                    out.result, out.detail = "failed", event.reason
                else:
                    out.detail = f"no answer to the REFER ({event.reason}); it may be ringing"
                break

    def _resumed(self, event: SessionResumed, actions: list[Action], now: float) -> None:
        self._steps.append((now, "note", "the call's connection dropped and was opened again"))

    def _call_ended(self, event: CallEnded, actions: list[Action], now: float) -> None:
        self._ended, self._ended_at = event, now

    @property
    def _flow(self) -> Flow | None:
        return self._machine.flow if self._machine is not None else None

    # -- the end: the record -------------------------------------------------------------
    def finish(
        self, how: str | None = None, detail: str | None = None, *, replica: str | None = None
    ) -> CallRecord | None:
        """The call's record; None when it was already built. ``how``/``detail``: how a
        call that never ran ended (``ended_how`` values, and words)."""
        if self._finished:
            return None
        self._finished = True
        now = time.time()
        how, detail, ended_at = self._how_it_ended(how, detail, self.error, now)
        record = self._base(replica)
        redact = self._redactor()
        record.headers = {name: redact.text(value) for name, value in record.headers.items()}
        record.ended_at = when(ended_at)
        record.ended_how = how
        record.ended_detail = detail
        record.answered_at = when(self._answered) if self._answered is not None else None
        tools = {id(t): tool_call(t, redact) for t in self._tools.values()}
        for t in self._transfers:
            if t.result == "pending" and how == "transferred" and t is self._transfers[-1]:
                t.result = "took"
        record.timeline.append(decision_step(record, getattr(self.decision, "why", None)))
        for at, kind, what in self._steps:
            line = step(at, kind, what, tools, redact)
            record.timeline.append(line)
            if kind == "state":
                record.states.append(line)
            elif kind == "key":
                record.keys.append(line)
            elif kind in ("heard", "said"):
                who = "caller" if kind == "heard" else "agent"
                record.transcript.append(TranscriptLine(line.at, who, line.text))  # type: ignore[union-attr]
        record.tools = list(tools.values())
        record.transfers = [
            TransferTry(redact.text(t.target), when(t.at), t.result, _maybe(redact, t.detail))
            for t in self._transfers
        ]
        if not self._transcript:
            record.transcript = None
        record.timeline.append(ended_step(record))
        record.outcome = outcome_of(record, served=self._served)
        return record

    def _how_it_ended(
        self, how: str | None, detail: str | None, error: BaseException | None, now: float
    ) -> tuple[str, str | None, float]:
        if self._rejected is not None or isinstance(self.decision, Refusal):
            return "rejected", None, now
        ended = self._ended
        if error is not None:
            return "failure", f"the call failed: {type(error).__name__}", now
        if how is not None:
            return how, detail, now
        if ended is None:  # the task stopped before the call ended: only a shutdown does that
            return "engine_shutdown", "the engine stopped the call", now
        at = self._ended_at or now
        if ended.how == "hung_up":  # as the flow asked: which part of it?
            by = self._machine.ended_by if self._machine is not None else None
            return ("time_limit" if by == TIME_LIMIT else "hangup_tool"), by, at
        return ended.how or "caller_hung_up", ended.reason, at

    def _base(self, replica: str | None) -> CallRecord:
        decision = self.decision
        snapshot = decision.flow
        record = CallRecord(call_id=self.call_id, received_at=when(self._received))
        record.replica = replica
        record.handoffs = list(decision.handoffs)
        if snapshot is not None:
            record.flow_file = snapshot.path
            record.flow_name = snapshot.flow.name
            record.flow_version = snapshot.version
        if isinstance(decision, Answer):
            record.from_number = decision.context["caller"]["number"]
            record.to_number = decision.context["called"]["number"] or None
            opening = decision.opening
            if opening is not None:
                record.decision = "opening_transfer" if opening.transfer else "opening_say"
        else:
            headers = HeaderMap(self._headers)
            shown = headers.get("P-Asserted-Identity") or headers.get("From") or headers.get("f")
            dialled = headers.get("To") or headers.get("t") or ""
            record.from_number = normalize_number(shown or "", self._country) or "anonymous"
            record.to_number = normalize_number(dialled, self._country) or None
            record.decision = "rejected"
            record.reject_status = decision.sip_status
            record.reject_reason = decision.reason
            record.reject_kind = decision.kind
        if self._rejected is not None:
            record.decision = "rejected"
            record.reject_status, record.reject_reason, record.reject_kind = self._rejected
        if snapshot is not None and snapshot.flow.records.headers:
            kept = HeaderMap(self._headers)
            for name in snapshot.flow.records.headers:
                value = kept.get(name)
                if value is not None:
                    record.headers[name] = value[:HEADER_CHARS]
        return record

    def _redactor(self) -> Redactor:
        decision = self.decision
        flow = decision.flow.flow if decision.flow is not None else None
        if flow is None:
            return Redactor(Secrets(), ())
        env = decision.context.get("env") if isinstance(decision, Answer) else None
        redact = Redactor(flow_secrets(flow, env), flow.records.sensitive)
        for tool in self._tools.values():
            if tool.arguments is not None:
                redact.learn(parse_json(tool.arguments)[1])
            if tool.answer is not None:
                redact.learn(parse_json(tool.answer)[1])
        redact.add_values(self._keyed_values())
        return redact

    def _keyed_values(self) -> list[str]:
        """What the caller keyed into `collect`s: each entry, and what was kept."""
        values = [*self._entries, "".join(self._entry)]
        flow = self._flow
        if flow is not None and self._machine is not None:
            saved = self._machine.context.get("saved", {})
            for state in flow.states.values():
                if state.collect is not None and state.collect.save_as in saved:
                    values.append(str(saved[state.collect.save_as]))
        return values


_ON: dict[type, Callable[[CallRecorder, Any, list[Action], float], None]] = {
    ToolCallRequested: CallRecorder._tool_requested,
    ToolFinished: CallRecorder._tool_finished,
    CallerSaid: CallRecorder._caller_said,
    AgentSaid: CallRecorder._agent_said,
    CallerStartedSpeaking: CallRecorder._speaking,
    KeypadPressed: CallRecorder._key,
    CallerSilent: CallRecorder._silent,
    TimerFired: CallRecorder._timer,
    ReferFailed: CallRecorder._refer_failed,
    SessionResumed: CallRecorder._resumed,
    CallEnded: CallRecorder._call_ended,
}
"""The events a record notes; the rest (responses starting and ending, audio) it does not."""


def _maybe(redact: Redactor, text: str | None) -> str | None:
    return None if text is None else redact.text(text)

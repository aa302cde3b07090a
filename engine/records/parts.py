"""The notes a recorder takes during a call, and the parts of the record built from them
when it is over: tool calls, and the timeline's lines, each a sentence a flow author reads
with the same facts as fields (masked: ``redact``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..call.events import ToolFinished
from .record import CallRecord, Step, ToolCall
from .redact import MASKED, Redactor, parse_json

__all__ = [
    "KeyNote",
    "ToolNote",
    "TransferNote",
    "decision_step",
    "ended_step",
    "step",
    "tool_call",
    "when",
]


@dataclass(slots=True)
class ToolNote:
    call_id: str
    name: str
    at: float
    arguments: str | None  # the model's JSON text; None: the engine ran it (no arguments)
    answer: str | None = None  # what went back: the tool output, or the service's answer
    finished: ToolFinished | None = None  # the service's answer (http tools)


@dataclass(slots=True)
class TransferNote:
    target: str
    at: float
    result: str = "pending"
    detail: str | None = None


@dataclass(slots=True)
class KeyNote:
    key: str
    state: str | None
    collect: str | None  # the `save_as` of the entry it went into
    tool: str | None  # the keypad tool it ran


def when(seconds: float) -> datetime:
    """Seconds since the epoch (the recorder's clock) as a record's UTC time."""
    return datetime.fromtimestamp(seconds, UTC)


def tool_call(note: ToolNote, redact: Redactor) -> ToolCall:
    arguments: dict[str, Any] | str = {}
    if note.arguments is not None:
        ok, parsed = parse_json(note.arguments or "{}")
        if ok and isinstance(parsed, dict):
            arguments = redact.data(parsed)
        else:
            arguments = redact.text(note.arguments)
    answer = None
    if note.answer is not None:
        ok, parsed = parse_json(note.answer)
        answer = _dumps(redact.data(parsed)) if ok else redact.text(note.answer)
    done = note.finished
    return ToolCall(
        name=note.name,
        started_at=when(note.at),
        arguments=arguments,
        outcome=_tool_outcome(note),
        answer=answer,
        http_status=done.status if done is not None else None,
        duration_ms=done.elapsed_ms if done is not None else None,
    )


def _tool_outcome(note: ToolNote) -> str:
    done = note.finished
    if done is not None:
        if done.ok:
            return "ok"
        return "timeout" if done.error == "timeout" else "failed"
    if note.answer is None:
        return "cancelled"  # its response was cancelled, or the call ended before it ran
    ok, parsed = parse_json(note.answer)
    if ok and isinstance(parsed, dict) and parsed.get("ok") is False:
        return "refused"  # the engine did not run it: unknown, bad arguments, a cap, …
    return "ok"


def decision_step(record: CallRecord, why: str | None) -> Step:
    """The timeline's first line: how the call was answered, or why not."""
    data: dict[str, Any] = {"decision": record.decision}
    if record.handoffs:
        data["handoffs"] = record.handoffs
    chain = f" (handed off by {' → '.join(record.handoffs)})" if record.handoffs else ""
    if record.decision == "rejected":
        data.update(status=record.reject_status, kind=record.reject_kind)
        text = f"rejected with SIP {record.reject_status}: {record.reject_reason}{chain}"
    else:
        flow = f"flow {record.flow_file} (version {record.flow_version})"
        text = {
            "accepted": f"answered with {flow}",
            "opening_say": f"answered with {flow} only to say a line and hang up",
            "opening_transfer": f"answered with {flow} only to say a line and transfer",
        }[record.decision] + chain
        if why:
            text += f": {why}"
    return Step(record.received_at, "decision", text, data)


def step(at: float, kind: str, what: Any, tools: dict[int, ToolCall], redact: Redactor) -> Step:
    """One noted happening as a line of the timeline. ``tools``: the built tool calls, by
    the id of their note."""
    at_ = when(at)
    if kind == "state":
        return Step(at_, kind, f"entered state {what}", {"state": what})
    if kind == "key":
        key: KeyNote = what
        if key.collect is not None:
            data = {"key": MASKED, "state": key.state, "collect": key.collect}
            return Step(at_, kind, f"keyed a digit into {key.collect}", data)
        data = {"key": key.key, "state": key.state}
        text = f"pressed {key.key}"
        if key.tool is not None:
            data["tool"] = key.tool
            text += f": runs {key.tool}"
        return Step(at_, kind, text, data)
    if kind == "tool":
        call = tools[id(what)]
        return Step(at_, kind, _tool_text(call), {"name": call.name, "outcome": call.outcome})
    if kind == "transfer":
        target = redact.text(what.target)
        text = f"transfer to {target}: {what.result}"
        if what.detail:
            text += f" ({redact.text(what.detail)})"
        return Step(at_, kind, text, {"target": target, "result": what.result})
    if kind == "filler":
        text = f"filler line while {what or 'a tool'}'s service was slow"
        return Step(at_, kind, text, {"tool": what})
    if kind == "silence":
        count, state = what
        text = f"the caller was silent ({count} in a row): silence step {count}"
        return Step(at_, kind, text, {"in_a_row": count, "state": state})
    return Step(at_, kind, redact.text(str(what)))  # said, heard, a note


def _tool_text(call: ToolCall) -> str:
    text = f"tool {call.name}: {call.outcome}"
    extra = []
    if call.http_status is not None:
        extra.append(f"HTTP {call.http_status}")
    if call.duration_ms is not None:
        extra.append(f"{call.duration_ms:.0f} ms")
    return text + (f" ({', '.join(extra)})" if extra else "")


_ENDED = {
    "caller_hung_up": "the caller hung up",
    "hangup_tool": "the flow hung up",
    "transferred": "transferred",
    "time_limit": "the call's time limit",
    "failure": "failed",
    "dead_session": "the call's connection was lost; hung up",
    "engine_shutdown": "the engine shut down",
    "rejected": "rejected",
}


def ended_step(record: CallRecord) -> Step:
    """The timeline's last line: how the call ended."""
    how, detail = record.ended_how or "", record.ended_detail
    text = f"ended: {_ENDED.get(how, how)}"
    if detail and detail != how:
        text += f" ({detail})"
    return Step(record.ended_at or record.received_at, "ended", text, {"how": how})


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)

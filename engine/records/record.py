"""What is kept of one call: the record an IVR owner reads, and the contract between the
recorder (which builds it from the call's events and actions) and the store (which keeps it).

A record is plain data. Times are timezone-aware UTC datetimes. Everything in it has already
been masked where the flow marks something sensitive: the store writes what it is given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "CallOutcome",
    "CallRecord",
    "Step",
    "ToolCall",
    "TranscriptLine",
    "TransferTry",
]


class CallOutcome(StrEnum):
    """The one word an IVR owner reads at a glance."""

    HANDLED = "handled"  # the flow served the caller and the call ended without a person
    TRANSFERRED = "transferred"  # a transfer took the call to a person or another line
    ABANDONED = "abandoned"  # the caller hung up before being served
    REJECTED = "rejected"  # never answered: refused with a SIP status
    FAILED = "failed"  # the engine or the platform could not carry the call


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the call's timeline, in the order it happened.

    ``kind``: decision, state, key, tool, transfer, filler, silence, said, heard, note, ended.
    ``text``: one sentence a flow author reads; ``data``: the same as fields (masked)."""

    at: datetime
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    started_at: datetime
    arguments: dict[str, Any] | str  # masked; a string when the model sent no valid JSON
    outcome: str  # ok, failed, timeout, refused, cancelled
    answer: str | None = None  # what went back to the model (masked)
    http_status: int | None = None
    duration_ms: float | None = None


@dataclass(frozen=True, slots=True)
class TransferTry:
    target: str
    at: datetime
    result: str  # took, failed, no_answer, pending
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    at: datetime
    who: str  # caller or agent
    text: str


@dataclass(slots=True)
class CallRecord:
    call_id: str
    received_at: datetime
    from_number: str | None = None
    to_number: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # carrier headers the flow keeps
    flow_file: str | None = None
    flow_name: str | None = None
    flow_version: str | None = None
    decision: str = "accepted"  # accepted, rejected, opening_say, opening_transfer
    reject_status: int | None = None
    reject_reason: str | None = None  # in words, for people
    reject_kind: str | None = None  # a bounded word for metrics: unknown_number, closed, ...
    handoffs: list[str] = field(default_factory=list)
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    # caller_hung_up, hangup_tool, transferred, time_limit, failure, dead_session,
    # engine_shutdown, rejected
    ended_how: str | None = None
    ended_detail: str | None = None
    outcome: CallOutcome | None = None
    states: list[Step] = field(default_factory=list)
    keys: list[Step] = field(default_factory=list)
    tools: list[ToolCall] = field(default_factory=list)
    transfers: list[TransferTry] = field(default_factory=list)
    timeline: list[Step] = field(default_factory=list)
    transcript: list[TranscriptLine] | None = field(default_factory=list)  # None: turned off
    replica: str | None = None  # which engine process carried the call

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601 strings."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        def when(v: str | None) -> datetime | None:
            return None if v is None else datetime.fromisoformat(v)

        def steps(items: list[dict[str, Any]]) -> list[Step]:
            return [Step(when(s["at"]), s["kind"], s["text"], s.get("data") or {}) for s in items]  # type: ignore[arg-type]

        d = dict(data)
        d["received_at"] = when(d["received_at"])
        d["answered_at"] = when(d.get("answered_at"))
        d["ended_at"] = when(d.get("ended_at"))
        d["outcome"] = CallOutcome(d["outcome"]) if d.get("outcome") else None
        d["states"] = steps(d.get("states") or [])
        d["keys"] = steps(d.get("keys") or [])
        d["timeline"] = steps(d.get("timeline") or [])
        d["tools"] = [
            ToolCall(**{**t, "started_at": when(t["started_at"])}) for t in d.get("tools") or []
        ]
        d["transfers"] = [
            TransferTry(**{**t, "at": when(t["at"])}) for t in d.get("transfers") or []
        ]
        if d.get("transcript") is not None:
            d["transcript"] = [
                TranscriptLine(**{**t, "at": when(t["at"])}) for t in d["transcript"]
            ]
        return cls(**d)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value

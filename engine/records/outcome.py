"""The one word a call ends with, and the one log line that says so.

The rules (docs/runtime.md, "Call records"):

* **rejected**: never answered: the flow (or OpenAI, refusing the session) refused it with a
  SIP status;
* **transferred**: a REFER took the call;
* **failed**: the engine or the platform could not carry the call: accept failed, the
  session died and nobody could steer the call, the engine shut down under it, or the
  call's task failed;
* **handled**: the flow ended the call (a tool's or step's hangup, an opening's line, the
  time limit), or the caller hung up after the agent had answered at least one thing the
  caller said or keyed;
* **abandoned**: the caller hung up before that (while it rang, during the greeting, before
  any answer).
"""

from __future__ import annotations

from typing import Any

from .record import CallOutcome, CallRecord

__all__ = ["ENDED_HOW", "FAILURES", "outcome_of", "summary"]

# How a call ends (``CallRecord.ended_how``).
ENDED_HOW = (
    "caller_hung_up",
    "hangup_tool",  # the flow hung up: a tool's or a step's hangup, an opening's line, a cap
    "transferred",
    "time_limit",
    "failure",  # accept failed, or the call's task failed
    "dead_session",  # the call's connection was lost and could not be opened again
    "engine_shutdown",  # the engine's drain deadline hung it up
    "rejected",
)
FAILURES = frozenset({"failure", "dead_session", "engine_shutdown"})


def outcome_of(record: CallRecord, *, served: bool) -> CallOutcome:
    """``served``: the agent answered something the caller said or keyed."""
    how = record.ended_how
    if record.decision == "rejected" or how == "rejected":
        return CallOutcome.REJECTED
    if how == "transferred":
        return CallOutcome.TRANSFERRED
    if how in ("hangup_tool", "time_limit"):
        return CallOutcome.HANDLED
    if how == "caller_hung_up":
        return CallOutcome.HANDLED if served else CallOutcome.ABANDONED
    return CallOutcome.FAILED


def summary(record: CallRecord) -> tuple[str, dict[str, Any]]:
    """The call's one line for the log when it ends, and its fields for JSON logs."""
    duration = _duration_s(record)
    outcome = str(record.outcome)
    if record.outcome is CallOutcome.REJECTED:
        head = f"call ended: rejected with SIP {record.reject_status}"
        if record.reject_kind:
            head += f" ({record.reject_kind})"
    else:
        head = f"call ended: {outcome} after {_seconds(duration)}"
        if record.answered_at is None:
            head += " before it was answered"
    flow = record.flow_file
    message = head + (f" (flow {flow})" if flow else " (no flow)")
    if record.outcome in (CallOutcome.FAILED, CallOutcome.ABANDONED) and record.ended_detail:
        message += f": {record.ended_detail}"
    fields = {
        "outcome": outcome,
        "flow": flow,
        "duration_s": duration,
        "states": len(record.states),
        "tools": len(record.tools),
        "tool_failures": sum(t.outcome not in ("ok", "cancelled") for t in record.tools),
        "transfers": len(record.transfers),
        "keys": len(record.keys),
    }
    return message, fields


def _duration_s(record: CallRecord) -> float:
    """From the answer (or the webhook, for a call never answered) to the end."""
    start = record.answered_at or record.received_at
    if record.ended_at is None:
        return 0.0
    return round(max(0.0, (record.ended_at - start).total_seconds()), 1)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"

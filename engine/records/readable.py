"""Records as a flow author reads them: `engine calls` (a table of calls) and
`engine calls show ID` (one call's story: who, which flow, what was decided, every step in
order, the tools and transfers, how it ended, what was said). The story's parts (``facts``,
``timeline``, ``tool_head``, ...) are the studio's call page's words too.

Everything in a record that a caller or the model chose (numbers, headers, words) is
printed with its control characters escaped, so it cannot move the cursor or fake a line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..logs import escape_control
from .record import CallRecord, Step, ToolCall, TransferTry
from .store import CallSummary

__all__ = [
    "call_story",
    "calls_table",
    "compact",
    "decision",
    "duration",
    "facts",
    "offset",
    "outcome_words",
    "safe",
    "steps",
    "timeline",
    "tool_head",
    "transfer_text",
]


def safe(value: object) -> str:
    """A value a caller or the model chose, with its control characters escaped."""
    return escape_control("" if value is None else str(value))


_safe = safe


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "live"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def calls_table(calls: Sequence[CallSummary]) -> str:
    """Newest first, one line a call, columns lined up."""
    header = ("RECEIVED (UTC)", "CALL", "FLOW", "FROM", "TO", "OUTCOME", "ENDED", "LENGTH")
    rows = [
        (
            _when(c.received_at),
            _safe(c.call_id),
            _safe(c.flow_name or c.flow_file or "-"),
            _safe(c.from_number or "-"),
            _safe(c.to_number or "-"),
            _safe(c.outcome or "-"),
            _safe(c.ended_how or "-"),
            duration(c.duration_s),
        )
        for c in calls
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def offset(record: CallRecord, at: datetime | None) -> str:
    """When ``at`` was, counted from the call's arrival: ``  +4.000 s``."""
    if at is None:
        return "       "
    return f"{(at - record.received_at).total_seconds():+8.3f} s"


def compact(value: Any, limit: int = 300) -> str:
    """A tool's arguments or answer on one line, at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = _safe(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def steps(record: CallRecord) -> list[Step]:
    """The timeline the recorder wrote; from the parts, in order, when it wrote none."""
    if record.timeline:
        return list(record.timeline)
    found = [*record.states, *record.keys]
    found += [Step(t.started_at, "tool", f"{t.name}: {t.outcome}") for t in record.tools]
    found += [Step(t.at, "transfer", f"{t.target}: {t.result}") for t in record.transfers]
    return sorted(found, key=lambda s: s.at)


def timeline(record: CallRecord) -> list[tuple[Step, ToolCall | None]]:
    """The timeline's steps, each tool step with its tool call (arguments, answer): the
    n-th step of a tool is its n-th call."""
    calls: dict[str, list[ToolCall]] = {}
    for call in record.tools:
        calls.setdefault(call.name, []).append(call)
    found: list[tuple[Step, ToolCall | None]] = []
    for step in steps(record):
        tool: ToolCall | None = None
        if step.kind == "tool":
            name = step.data.get("name")
            if name is None:  # an older record's step: the tool named in its words
                name = next((n for n, left in calls.items() if left and n in step.text), None)
            waiting = calls.get(str(name))
            tool = waiting.pop(0) if waiting else None
        found.append((step, tool))
    return found


def decision(record: CallRecord) -> str:
    """How the call was answered, or why it was not."""
    if record.decision == "rejected":
        status = f"SIP {record.reject_status}" if record.reject_status else "rejected"
        reason = f": {_safe(record.reject_reason)}" if record.reject_reason else ""
        return f"rejected with {status}{reason}"
    words = {
        "accepted": "accepted",
        "opening_say": "answered only to say a line and hang up",
        "opening_transfer": "answered only to say a line and transfer",
    }
    return words.get(record.decision, _safe(record.decision))


def outcome_words(record: CallRecord) -> str:
    """``transferred (transferred)``, ``abandoned (caller_hung_up: …)``, ``not ended yet``."""
    r = record
    outcome = r.outcome.value if r.outcome else "not ended yet"
    how = f" ({_safe(r.ended_how)}" + (f": {_safe(r.ended_detail)}" if r.ended_detail else "")
    return outcome + (how + ")" if r.ended_how else "")


def facts(record: CallRecord) -> list[tuple[str, str]]:
    """The call in a few named lines: flow, caller, received, decision, hand-offs, answered,
    ended, replica, the headers kept."""
    r = record
    flow = _safe(r.flow_name or r.flow_file or "none")
    where = ", ".join(
        part
        for part in (
            _safe(r.flow_file) if r.flow_file and r.flow_name else None,
            f"version {_safe(r.flow_version)}" if r.flow_version else None,
        )
        if part
    )
    flow += f" ({where})" if where else ""
    found: list[tuple[str, str]] = [
        ("flow", flow),
        ("caller", f"{_safe(r.from_number or 'unknown')} → {_safe(r.to_number or 'unknown')}"),
        ("received", f"{r.received_at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC"),
        ("decision", decision(r)),
    ]
    if r.handoffs:
        found.append(("hand-offs", " → ".join(_safe(h) for h in r.handoffs)))
    if r.answered_at:
        found.append(("answered", offset(r, r.answered_at).strip()))
    if r.ended_at:
        ended = offset(r, r.ended_at).strip()
        how_ended = _safe(r.ended_how) if r.ended_how else "ended"
        found.append(("ended", f"{ended}, {how_ended}"))
    if r.replica:
        found.append(("replica", _safe(r.replica)))
    for name, value in sorted(r.headers.items()):
        found.append(("header", f"{_safe(name)}: {_safe(value)}"))
    return found


def tool_head(tool: ToolCall) -> str:
    """``lookup_order  ok  HTTP 200  123 ms``."""
    status = f"HTTP {tool.http_status}" if tool.http_status is not None else ""
    took = f"{tool.duration_ms:.0f} ms" if tool.duration_ms is not None else ""
    return "  ".join(p for p in (_safe(tool.name), _safe(tool.outcome), status, took) if p)


def transfer_text(transfer: TransferTry) -> str:
    detail = f" ({_safe(transfer.detail)})" if transfer.detail else ""
    return f"{_safe(transfer.target)}: {_safe(transfer.result)}{detail}"


def _section(title: str, lines: Iterable[str]) -> list[str]:
    body = list(lines)
    return ["", title, *body] if body else []


def call_story(record: CallRecord) -> str:
    r = record
    lines = [f"call {_safe(r.call_id)}: {outcome_words(r)}"]
    lines += [f"  {name:<10}{value}" for name, value in facts(r)]

    lines += _section(
        "timeline",
        (f"  {offset(r, s.at)}  {_safe(s.kind):<9} {_safe(s.text)}" for s in steps(r)),
    )
    tool_lines: list[str] = []
    for t in r.tools:
        tool_lines.append(f"  {offset(r, t.started_at)}  {tool_head(t)}")
        tool_lines.append(f"              arguments {compact(t.arguments)}")
        if t.answer is not None:
            tool_lines.append(f"              answer    {compact(t.answer)}")
    lines += _section("tools", tool_lines)
    lines += _section(
        "transfers", (f"  {offset(r, t.at)}  {transfer_text(t)}" for t in r.transfers)
    )
    if r.transcript is None:
        lines += ["", "transcript: turned off by the flow"]
    else:
        lines += _section(
            "transcript",
            (f"  {offset(r, t.at)}  {_safe(t.who):>6}: {_safe(t.text)}" for t in r.transcript),
        )
    return "\n".join(lines)

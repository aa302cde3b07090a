"""Records as a flow author reads them: `engine calls` (a table of calls) and
`engine calls show ID` (one call's story: who, which flow, what was decided, every step in
order, the tools and transfers, how it ended, what was said).

Everything in a record that a caller or the model chose (numbers, headers, words) is
printed with its control characters escaped, so it cannot move the cursor or fake a line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..logs import escape_control
from .record import CallRecord, Step
from .store import CallSummary

__all__ = ["call_story", "calls_table"]


def _safe(value: object) -> str:
    return escape_control("" if value is None else str(value))


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
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
            _duration(c.duration_s),
        )
        for c in calls
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _offset(record: CallRecord, at: datetime | None) -> str:
    if at is None:
        return "       "
    return f"{(at - record.received_at).total_seconds():+8.3f} s"


def _compact(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = _safe(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _steps(record: CallRecord) -> list[Step]:
    """The timeline the recorder wrote; from the parts, in order, when it wrote none."""
    if record.timeline:
        return list(record.timeline)
    steps = [*record.states, *record.keys]
    steps += [Step(t.started_at, "tool", f"{t.name}: {t.outcome}") for t in record.tools]
    steps += [Step(t.at, "transfer", f"{t.target}: {t.result}") for t in record.transfers]
    return sorted(steps, key=lambda s: s.at)


def _decision(record: CallRecord) -> str:
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


def _section(title: str, lines: Iterable[str]) -> list[str]:
    body = list(lines)
    return ["", title, *body] if body else []


def call_story(record: CallRecord) -> str:
    r = record
    outcome = r.outcome.value if r.outcome else "not ended yet"
    how = f" ({_safe(r.ended_how)}" + (f": {_safe(r.ended_detail)}" if r.ended_detail else "")
    how = how + ")" if r.ended_how else ""
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
    lines = [f"call {_safe(r.call_id)}: {outcome}{how}"]
    facts: list[tuple[str, str]] = [
        ("flow", flow),
        ("caller", f"{_safe(r.from_number or 'unknown')} → {_safe(r.to_number or 'unknown')}"),
        ("received", f"{r.received_at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC"),
        ("decision", _decision(r)),
    ]
    if r.handoffs:
        facts.append(("hand-offs", " → ".join(_safe(h) for h in r.handoffs)))
    if r.answered_at:
        facts.append(("answered", _offset(r, r.answered_at).strip()))
    if r.ended_at:
        ended = _offset(r, r.ended_at).strip()
        how_ended = _safe(r.ended_how) if r.ended_how else "ended"
        facts.append(("ended", f"{ended}, {how_ended}"))
    if r.replica:
        facts.append(("replica", _safe(r.replica)))
    for name, value in sorted(r.headers.items()):
        facts.append(("header", f"{_safe(name)}: {_safe(value)}"))
    lines += [f"  {name:<10}{value}" for name, value in facts]

    lines += _section(
        "timeline",
        (f"  {_offset(r, s.at)}  {_safe(s.kind):<9} {_safe(s.text)}" for s in _steps(r)),
    )
    tool_lines: list[str] = []
    for t in r.tools:
        status = f"HTTP {t.http_status}" if t.http_status is not None else ""
        took = f"{t.duration_ms:.0f} ms" if t.duration_ms is not None else ""
        head = "  ".join(p for p in (_safe(t.name), _safe(t.outcome), status, took) if p)
        tool_lines.append(f"  {_offset(r, t.started_at)}  {head}")
        tool_lines.append(f"              arguments {_compact(t.arguments)}")
        if t.answer is not None:
            tool_lines.append(f"              answer    {_compact(t.answer)}")
    lines += _section("tools", tool_lines)
    lines += _section(
        "transfers",
        (
            f"  {_offset(r, t.at)}  {_safe(t.target)}: {_safe(t.result)}"
            + (f" ({_safe(t.detail)})" if t.detail else "")
            for t in r.transfers
        ),
    )
    if r.transcript is None:
        lines += ["", "transcript: turned off by the flow"]
    else:
        lines += _section(
            "transcript",
            (f"  {_offset(r, t.at)}  {_safe(t.who):>6}: {_safe(t.text)}" for t in r.transcript),
        )
    return "\n".join(lines)

"""The decision before accept: which flow answers a call, with which session, or why not.

Pure: the caller's SIP headers, the registry's snapshot, the environment and the time go in;
an ``Answer`` or a ``Refusal`` comes out. The webhook route and ``engine test`` scenarios
both decide through here, so a scenario's "accepted" or "rejected with 404" is what a real
call would get.

The order (docs/ivr-design.md §3): the ``To`` number picks the flow → its first ``callers``
rule about this caller → its ``hours`` → the normal answer. A rule or closed hours lead to
an ``Outcome``:

- ``reject: N``: a ``Refusal`` with SIP status N;
- ``flow: stem``: decide again with ``<stem>.yaml`` beside the flow (its own rules and
  hours); more than ``MAX_HANDOFFS`` hand-offs is a loop: 480;
- ``say`` and/or ``transfer``: an ``Answer`` whose session has the flow's model, voice and
  instructions but no tools, and whose ``opening`` (a ``Tool`` the call machine runs instead
  of the greeting) speaks the line, then hangs up or transfers. Its templates are rendered
  by the machine; here they are only checked, so a line that cannot render refuses the call
  (480) as instructions that cannot render do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from ..flow.hours import Schedule, compile_hours
from ..flow.model import DEFAULT_TRANSCRIPTION_MODEL, Flow, Hours, Outcome, Step, Tool
from ..flow.registry import FlowSnapshot, Snapshot
from ..flow.templates import TemplateError, render
from .callers import Caller, first_match, identify_caller
from .context import HeaderMap, build_context
from .session import SessionSpec, instructions_for, session_for, transcription_for

__all__ = [
    "MAX_HANDOFFS",
    "REFUSAL_KINDS",
    "SIP_NOT_FOUND",
    "SIP_TEMPORARILY_UNAVAILABLE",
    "Answer",
    "Refusal",
    "decide",
]

SIP_NOT_FOUND = 404
SIP_TEMPORARILY_UNAVAILABLE = 480
MAX_HANDOFFS = 4

# Refusal kinds: what the log and the metrics call each kind of "no".
UNKNOWN_NUMBER = "unknown_number"  # no flow answers the dialled number
TEMPLATE = "template"  # instructions or an outcome's line do not render for this call
CLOSED = "closed"  # hours.when_closed says reject
CALLER_RULE = "caller_rule"  # a callers rule says reject
HANDOFF = "handoff"  # a flow: hand-off to a flow that is not loaded, or a loop
FLOW_ERROR = "flow_error"  # hours or caller numbers the engine cannot read (lint stops these)
REFUSAL_KINDS = frozenset({UNKNOWN_NUMBER, TEMPLATE, CLOSED, CALLER_RULE, HANDOFF, FLOW_ERROR})
# Kinds that are the flow working as written; the others are problems to look at.
EXPECTED_KINDS = frozenset({UNKNOWN_NUMBER, CLOSED, CALLER_RULE})


@dataclass(frozen=True)
class Answer:
    flow: FlowSnapshot
    session: SessionSpec
    context: dict[str, Any]
    # Run at session start instead of the greeting (closed hours, caller rules): a line,
    # then a hangup or a transfer. None: the flow's normal greeting.
    opening: Tool | None = None
    why: str | None = None  # for the log: which rule or hours chose the opening
    handoffs: tuple[str, ...] = ()  # the flow files handed through before this one


@dataclass(frozen=True)
class Refusal:
    sip_status: int
    reason: str  # for the log: never a secret, never the caller's headers in full
    flow: FlowSnapshot | None = None
    kind: str = TEMPLATE  # UNKNOWN_NUMBER, TEMPLATE, CLOSED, CALLER_RULE, HANDOFF, FLOW_ERROR
    handoffs: tuple[str, ...] = ()  # the flow files handed through before ``flow``

    @property
    def expected(self) -> bool:
        """True when the flow refused as written (closed, a caller rule, no flow for the
        number); False for a problem (a template, a hand-off, hours that cannot be read)."""
        return self.kind in EXPECTED_KINDS


@dataclass(frozen=True)
class _Chosen:
    outcome: Outcome
    kind: str  # CLOSED or CALLER_RULE
    why: str


def decide(
    *,
    call_id: str,
    sip_headers: Iterable[tuple[str, str]],
    snapshot: Snapshot,
    env: Mapping[str, str],
    now: datetime,
    transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL,
) -> Answer | Refusal:
    """Which flow answers the call and how, or why it is refused. ``transcription_model``:
    the engine's default (ENGINE_TRANSCRIPTION_MODEL) for flows that name none."""
    headers = list(sip_headers)
    lookup = HeaderMap(headers)
    dialled = lookup.get("To") or lookup.get("t") or ""
    flow = snapshot.route(dialled)
    if flow is None:
        return Refusal(SIP_NOT_FOUND, f"no flow answers {dialled!r}", kind=UNKNOWN_NUMBER)
    asserted = lookup.get("P-Asserted-Identity")
    shown = lookup.get("From") or lookup.get("f")
    caller = identify_caller(
        asserted=asserted,
        from_=shown,
        privacy=lookup.get("Privacy"),
        default_country_code=snapshot.default_country_code,
    )
    handed: list[str] = []
    while True:
        context = build_context(
            call_id=call_id,
            flow=flow.flow,
            caller=asserted or shown,
            dialled=dialled,
            headers=headers,
            contact=lookup.get("Contact") or lookup.get("m"),
            env=env,
            now=now,
            default_country_code=snapshot.default_country_code,
        )
        try:
            chosen = _outcome(flow.flow, caller, context["now"])
        except (ValueError, ZoneInfoNotFoundError) as exc:
            return Refusal(
                SIP_TEMPORARILY_UNAVAILABLE,
                f"flow {flow.path}: cannot be read ({exc})",
                flow,
                FLOW_ERROR,
                tuple(handed),
            )
        if chosen is None:
            return _normal(flow, context, tuple(handed), transcription_model)
        outcome = chosen.outcome
        if outcome.reject is not None:
            reason = f"flow {flow.path}: {chosen.why}"
            return Refusal(outcome.reject, reason, flow, chosen.kind, tuple(handed))
        if outcome.flow is not None:
            path = " → ".join([*handed, flow.path])
            if len(handed) >= MAX_HANDOFFS:
                return Refusal(
                    SIP_TEMPORARILY_UNAVAILABLE,
                    f"flow hand-off loop: {path} → {outcome.flow!r} ({chosen.why}): more than "
                    f"{MAX_HANDOFFS} hand-offs",
                    flow,
                    HANDOFF,
                    tuple(handed),
                )
            target = snapshot.by_stem(outcome.flow, beside=flow.path)
            if target is None:
                return Refusal(
                    SIP_TEMPORARILY_UNAVAILABLE,
                    f"flow {flow.path}: {chosen.why} hands the call to flow {outcome.flow!r}, "
                    "which is not loaded (no such file beside it, or it does not lint)",
                    flow,
                    HANDOFF,
                    tuple(handed),
                )
            handed.append(flow.path)
            flow = target
            continue
        return _opening(flow, context, chosen, tuple(handed), transcription_model)


def _outcome(flow: Flow, caller: Caller, now: datetime) -> _Chosen | None:
    """The outcome for this caller at ``now``, or None for the normal answer. Raises
    ValueError for hours or caller numbers that cannot be read."""
    matched = first_match(flow.callers, caller)
    if matched is not None:
        index, rule = matched
        return _Chosen(rule, CALLER_RULE, f"caller rule {index + 1} ({_describe(rule)})")
    if flow.hours is not None and not _schedule(flow.hours, flow.timezone).is_open(now):
        when = now.strftime("%a %Y-%m-%d %H:%M")
        return _Chosen(flow.hours.when_closed, CLOSED, f"closed ({when} {flow.timezone})")
    return None


# Schedules read once per loaded flow, not once per call (reading them is most of the cost of
# deciding). Keyed by the identity of the immutable `hours` of a snapshot, which the entry
# keeps alive; bounded, because reloads bring new snapshots.
_SCHEDULES: dict[tuple[int, str], tuple[Hours, Schedule]] = {}
_SCHEDULES_MAX = 256


def _schedule(hours: Hours, timezone: str) -> Schedule:
    key = (id(hours), timezone)
    found = _SCHEDULES.get(key)
    if found is not None and found[0] is hours:
        return found[1]
    schedule = compile_hours(hours, timezone)
    if len(_SCHEDULES) >= _SCHEDULES_MAX:
        _SCHEDULES.clear()
    _SCHEDULES[key] = (hours, schedule)
    return schedule


def _describe(rule: Any) -> str:
    parts = []
    if rule.numbers:
        shown = ", ".join(rule.numbers[:3]) + (", …" if len(rule.numbers) > 3 else "")
        parts.append(f"numbers {shown}")
    if rule.anonymous:
        parts.append("anonymous")
    return "; ".join(parts) or "no condition"


def _normal(
    flow: FlowSnapshot, context: dict[str, Any], handed: tuple[str, ...], transcription: str
) -> Answer | Refusal:
    try:
        session = session_for(flow.flow, context, transcription_model=transcription)
    except TemplateError as exc:
        return Refusal(
            SIP_TEMPORARILY_UNAVAILABLE,
            f"flow {flow.path}: instructions failed ({exc})",
            flow,
            handoffs=handed,
        )
    return Answer(flow, session, context, handoffs=handed)


def _opening(
    flow: FlowSnapshot,
    context: dict[str, Any],
    chosen: _Chosen,
    handed: tuple[str, ...],
    transcription: str,
) -> Answer | Refusal:
    outcome, spec = chosen.outcome, flow.flow
    if outcome.say is None and outcome.transfer is None:
        return Refusal(
            SIP_TEMPORARILY_UNAVAILABLE,
            f"flow {flow.path}: {chosen.why} has none of reject, say, flow or transfer",
            flow,
            FLOW_ERROR,
            handed,
        )
    try:
        instructions = instructions_for(spec, None, context)
        for name, template in (("say", outcome.say), ("transfer", outcome.transfer)):
            if template is not None:
                try:
                    render(template, context)
                except TemplateError as exc:
                    raise TemplateError(f"its {name} line: {exc}") from None
    except TemplateError as exc:
        return Refusal(
            SIP_TEMPORARILY_UNAVAILABLE,
            f"flow {flow.path}: {chosen.why} failed ({exc})",
            flow,
            handoffs=handed,
        )
    session = SessionSpec(
        model=spec.model,
        voice=spec.voice,
        instructions=instructions,
        tools=(),
        transcription=transcription_for(spec, transcription),
    )
    if outcome.transfer is not None:
        opening = Tool(
            description=f"Transfer the caller: {chosen.why}.",
            say=outcome.say,
            transfer=outcome.transfer,
            fallback=Step(say=spec.lines.tools_failing, hangup=True),
        )
    else:
        opening = Tool(
            description=f"Tell the caller and hang up: {chosen.why}.",
            say=outcome.say,
            hangup=True,
        )
    return Answer(flow, session, context, opening=opening, why=chosen.why, handoffs=handed)

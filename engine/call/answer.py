"""The decision before accept: which flow answers a call, with which session, or why not.

Pure: the caller's SIP headers, the registry's snapshot, the environment and the time go in;
an ``Answer`` or a ``Refusal`` comes out. The webhook route and ``engine test`` scenarios
both decide through here, so a scenario's "accepted" or "rejected with 404" is what a real
call would get.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..flow.registry import FlowSnapshot, Snapshot
from ..flow.templates import TemplateError
from .context import HeaderMap, build_context
from .session import SessionSpec, session_for

__all__ = ["SIP_NOT_FOUND", "SIP_TEMPORARILY_UNAVAILABLE", "Answer", "Refusal", "decide"]

SIP_NOT_FOUND = 404
SIP_TEMPORARILY_UNAVAILABLE = 480


@dataclass(frozen=True)
class Answer:
    flow: FlowSnapshot
    session: SessionSpec
    context: dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    sip_status: int
    reason: str  # for the log: never a secret, never the caller's headers in full
    flow: FlowSnapshot | None = None


def decide(
    *,
    call_id: str,
    sip_headers: Iterable[tuple[str, str]],
    snapshot: Snapshot,
    env: Mapping[str, str],
    now: datetime,
) -> Answer | Refusal:
    headers = list(sip_headers)
    lookup = HeaderMap(headers)
    dialled = lookup.get("To") or lookup.get("t") or ""
    flow = snapshot.route(dialled)
    if flow is None:
        return Refusal(SIP_NOT_FOUND, f"no flow answers {dialled!r}")
    caller = lookup.get("P-Asserted-Identity") or lookup.get("From") or lookup.get("f")
    context = build_context(
        call_id=call_id,
        flow=flow.flow,
        caller=caller,
        dialled=dialled,
        headers=headers,
        contact=lookup.get("Contact") or lookup.get("m"),
        env=env,
        now=now,
        default_country_code=snapshot.default_country_code,
    )
    try:
        session = session_for(flow.flow, context)
    except TemplateError as exc:
        return Refusal(
            SIP_TEMPORARILY_UNAVAILABLE, f"flow {flow.path}: instructions failed ({exc})", flow
        )
    return Answer(flow, session, context)

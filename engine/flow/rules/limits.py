"""The call's time limit and the caps on tool calls."""

from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import Diagnostic, Severity
from .base import LintContext, rule

# OpenAI ends a Realtime session, and so the call, after 60 minutes.
_SESSION_SECONDS = 60 * 60


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@rule(
    "limits",
    "`limits.warn_minutes` is not less than `limits.call_minutes`, or a transfer made at the "
    "time limit could still be waiting when OpenAI ends the session at 60 minutes.",
)
def limits(ctx: LintContext) -> Iterator[Diagnostic]:
    yield from _transfer_past_the_session(ctx)
    spec = ctx.flow.limits
    if spec.warn_minutes == 0 or spec.warn_minutes < spec.call_minutes:
        return
    warn, call = _minutes(spec.warn_minutes), _minutes(spec.call_minutes)
    set_here = "warn_minutes" in spec.model_fields_set
    yield ctx.diagnostic(
        "limits",
        ("limits", "warn_minutes" if set_here else "call_minutes"),
        f"the time warning comes {warn} minutes before the end of a call that lasts at most "
        f"{call} minutes, so it could never be said in time",
        hint=f"make `warn_minutes` less than {call} (or 0 for no warning)",
    )


def _transfer_past_the_session(ctx: LintContext) -> Iterator[Diagnostic]:
    """A transfer under way at the time limit is left to finish: its wait must end before
    OpenAI ends the session, or the caller on hold is cut off."""
    flow = ctx.flow
    wait = flow.trunk.transfer_wait
    if not any(tool.transfer is not None for tool in flow.tools.values()):
        return
    if flow.limits.call_minutes * 60 + wait <= _SESSION_SECONDS:
        return
    latest = (_SESSION_SECONDS - wait) / 60
    set_here = "call_minutes" in flow.limits.model_fields_set
    yield ctx.diagnostic(
        "limits",
        ("limits", "call_minutes") if set_here else ("trunk", "transfer_wait"),
        f"a transfer made just before the {_minutes(flow.limits.call_minutes)}-minute limit "
        f"waits up to {_minutes(wait)} seconds for the call to leave, past the 60 minutes "
        "after which OpenAI ends the call: a caller still on hold then is cut off",
        hint=f"make `call_minutes` at most {_minutes(int(latest * 10) / 10)}, or "
        "`trunk.transfer_wait` shorter",
        severity=Severity.WARNING,
    )

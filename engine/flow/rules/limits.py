"""The call's time limit and the caps on tool calls."""

from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import Diagnostic
from .base import LintContext, rule


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@rule("limits", "`limits.warn_minutes` is not less than `limits.call_minutes`.")
def limits(ctx: LintContext) -> Iterator[Diagnostic]:
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

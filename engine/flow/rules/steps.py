"""What a tool does: its steps must make sense together."""

from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import Diagnostic
from .base import LintContext, rule


@rule("tool-steps", "A tool that does nothing, or whose steps contradict each other.")
def tool_steps(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, tool in ctx.flow.tools.items():
        path = ("tools", name)
        if not (tool.say or tool.http or tool.goto or tool.transfer or tool.hangup):
            yield ctx.diagnostic(
                "tool-steps",
                path,
                f'the tool "{name}" does nothing: give it at least one of `say`, `http`, '
                "`goto`, `transfer` or `hangup: true`",
                key=True,
            )
        if tool.transfer and tool.hangup:
            yield ctx.diagnostic(
                "tool-steps",
                (*path, "hangup"),
                f'the tool "{name}" both transfers and hangs up; a transfer already ends '
                "the call here",
                hint="remove `hangup: true`",
                key=True,
            )
        if tool.goto and (tool.transfer or tool.hangup):
            yield ctx.diagnostic(
                "tool-steps",
                (*path, "goto"),
                f'the tool "{name}" moves to a state and also ends the call; the state would '
                "never be used",
                hint="keep `goto` or the transfer/hangup, not both",
                key=True,
            )

"""What a tool or a step does: its parts must make sense together."""

from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import Diagnostic, Severity
from . import walk
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


@rule(
    "step",
    "A step (silence, `fallback`, `on_timeout`) that does nothing, or whose parts contradict "
    "each other.",
)
def step(ctx: LintContext) -> Iterator[Diagnostic]:
    for found in walk.steps(ctx.flow):
        done = found.step
        if not (done.say or done.instructions or done.tool or done.goto or done.hangup):
            yield ctx.diagnostic(
                "step",
                found.path,
                f"{found.where} does nothing: give it at least one of `say`, `instructions`, "
                "`tool`, `goto` or `hangup: true`",
            )
            continue
        if done.say is not None and done.instructions is not None:
            yield ctx.diagnostic(
                "step",
                (*found.path, "instructions"),
                f"{found.where} has both `say` and `instructions`; a step says one thing",
                hint="keep `say` for exact words, or `instructions` to let the model choose them",
                key=True,
            )
        if done.hangup and done.tool is not None:
            yield ctx.diagnostic(
                "step",
                (*found.path, "hangup"),
                f'{found.where} runs the tool "{done.tool}" and also hangs up; what happens '
                "after the tool is the tool's to decide",
                hint="remove `hangup: true` (give the tool `hangup: true` if it should end the "
                "call)",
                key=True,
            )
        elif done.hangup and done.goto is not None:
            yield ctx.diagnostic(
                "step",
                (*found.path, "goto"),
                f"{found.where} moves to a state and also hangs up; the state would never be used",
                hint="keep `goto` or `hangup: true`, not both",
                key=True,
            )


@rule("tool-fallback", "A `fallback` on a tool that does not transfer, so it never runs.")
def tool_fallback(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, tool in ctx.flow.tools.items():
        if tool.fallback is not None and tool.transfer is None:
            yield ctx.diagnostic(
                "tool-fallback",
                ("tools", name, "fallback"),
                f'the tool "{name}" has a `fallback` but no `transfer`; a fallback runs only '
                "when every transfer target has failed, so this one never runs",
                hint="remove `fallback`, or add the `transfer` it is for",
                key=True,
            )


@rule(
    "tool-filler",
    "A `filler` line that can never be heard: the tool has no `http`, or `after` is not less "
    "than `http.timeout`.",
    Severity.WARNING,
)
def tool_filler(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, tool in ctx.flow.tools.items():
        filler = tool.filler
        if filler is None:
            continue
        path = ("tools", name, "filler")
        if tool.http is None:
            yield ctx.diagnostic(
                "tool-filler",
                path,
                f'the tool "{name}" has a `filler` but no `http`; the line is said while an '
                "outside service is slow to answer, so it is never heard",
                hint="remove `filler` (use `say` for a line the tool always says)",
                key=True,
            )
        elif filler.after >= tool.http.timeout:
            after, timeout = _seconds(filler.after), _seconds(tool.http.timeout)
            yield ctx.diagnostic(
                "tool-filler",
                (*path, "after") if "after" in filler.model_fields_set else path,
                f'the filler of "{name}" waits {after} seconds, but the service is given only '
                f"{timeout} (`http.timeout`), so the line is never heard",
                hint=f"make `after` less than {timeout} seconds",
                key="after" not in filler.model_fields_set,
            )


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)

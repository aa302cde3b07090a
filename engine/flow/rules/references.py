"""Names that point at other names: states, tools, `start`, `goto`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..diagnostics import Diagnostic, Severity
from ..validate import did_you_mean
from .base import LintContext, rule

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _suggest(name: str, choices: list[str]) -> str | None:
    guess = did_you_mean(name, choices)
    if guess:
        return f'did you mean "{guess}"?'
    if choices:
        return "the names defined are: " + ", ".join(choices)
    return None


@rule("unknown-state", "`start` or a tool's `goto` names a state that is not defined.")
def unknown_state(ctx: LintContext) -> Iterator[Diagnostic]:
    states = list(ctx.flow.states)
    if ctx.flow.start is not None and ctx.flow.start not in ctx.flow.states:
        if not states:
            yield ctx.diagnostic(
                "unknown-state",
                ("start",),
                f'`start` names the state "{ctx.flow.start}", but this flow has no `states`',
                hint="remove `start`, or add a `states:` section",
            )
        else:
            yield ctx.diagnostic(
                "unknown-state",
                ("start",),
                f'`start` names the state "{ctx.flow.start}", which is not defined',
                hint=_suggest(ctx.flow.start, states),
            )
    for name, tool in ctx.flow.tools.items():
        if tool.goto is not None and tool.goto not in ctx.flow.states:
            yield ctx.diagnostic(
                "unknown-state",
                ("tools", name, "goto"),
                f'the tool "{name}" goes to the state "{tool.goto}", which is not defined',
                hint=_suggest(tool.goto, states) if states else "add it under `states:`",
            )


@rule("unknown-tool", "A state offers a tool that is not defined under `tools`.")
def unknown_tool(ctx: LintContext) -> Iterator[Diagnostic]:
    tools = list(ctx.flow.tools)
    for state_name, state in ctx.flow.states.items():
        seen: set[str] = set()
        for index, tool_name in enumerate(state.tools):
            path = ("states", state_name, "tools", index)
            if tool_name in seen:
                yield ctx.diagnostic(
                    "unknown-tool",
                    path,
                    f'the state "{state_name}" lists the tool "{tool_name}" twice',
                    hint="remove the second one",
                )
            seen.add(tool_name)
            if tool_name not in ctx.flow.tools:
                yield ctx.diagnostic(
                    "unknown-tool",
                    path,
                    f'the state "{state_name}" offers the tool "{tool_name}", '
                    "which is not defined under `tools`",
                    hint=_suggest(tool_name, tools),
                )


@rule("tool-name", "A tool or state name the model cannot use (letters, digits, _ and -).")
def tool_name(ctx: LintContext) -> Iterator[Diagnostic]:
    for section in ("tools", "states"):
        for name in getattr(ctx.flow, section):
            if not _TOOL_NAME.match(name):
                fixed = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:64] or "name"
                yield ctx.diagnostic(
                    "tool-name",
                    (section, name),
                    f'"{name}" cannot be used as a name: use only letters, digits, `_` and `-`, '
                    "at most 64 characters",
                    hint=f'for example "{fixed}"',
                    key=True,
                )


@rule(
    "unreachable-state",
    "A state that no call can reach: not the start, and no tool goes to it.",
    Severity.WARNING,
)
def unreachable_state(ctx: LintContext) -> Iterator[Diagnostic]:
    flow = ctx.flow
    start = flow.start_state
    if start is None or start not in flow.states:
        return
    states = list(flow.states)
    reached = {start}
    frontier = [start]
    while frontier:
        state = flow.states[frontier.pop()]
        for tool_name in state.tools:
            tool = flow.tools.get(tool_name) or flow.tools.get(
                did_you_mean(tool_name, list(flow.tools)) or ""
            )
            if tool is None or tool.goto is None:
                continue
            # A misspelt `goto` is reported by unknown-state; follow its likely meaning so
            # one mistake gives one message.
            target = tool.goto if tool.goto in flow.states else did_you_mean(tool.goto, states)
            if target is not None and target not in reached:
                reached.add(target)
                frontier.append(target)
    for name in flow.states:
        if name not in reached:
            leading = [tool for tool, spec in flow.tools.items() if spec.goto == name]
            if leading:
                hint = (
                    f'add {leading[0]} to the `tools:` of the state "{start}" (or of another '
                    "state calls reach), or remove this state"
                )
            else:
                hint = (
                    f"add a tool with `goto: {name}` to a state that calls reach, "
                    "or remove this state"
                )
            yield ctx.diagnostic(
                "unreachable-state",
                ("states", name),
                f'no call can reach the state "{name}": calls start in "{start}", and no '
                f"state they reach offers a tool with `goto: {name}`",
                hint=hint,
                key=True,
            )


@rule(
    "unused-tool", "A tool that no state offers, so the model can never call it.", Severity.WARNING
)
def unused_tool(ctx: LintContext) -> Iterator[Diagnostic]:
    if not ctx.flow.states:
        return  # without states every tool is offered
    tools = list(ctx.flow.tools)
    listed = {name for state in ctx.flow.states.values() for name in state.tools}
    # A misspelt name in a state's list is reported by unknown-tool, with the tool it most
    # likely means; that tool is not reported again as unused.
    offered = {name if name in ctx.flow.tools else did_you_mean(name, tools) for name in listed}
    for name in ctx.flow.tools:
        if name not in offered:
            yield ctx.diagnostic(
                "unused-tool",
                ("tools", name),
                f'no state offers the tool "{name}", so the model can never call it',
                hint=f"add {name} to the `tools:` list of a state, or remove it",
                key=True,
            )

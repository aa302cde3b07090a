"""Names that point at other names: states, tools, `start`, `goto`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from ..diagnostics import Diagnostic, Severity
from ..model import Flow, Step
from ..source import DataPath
from ..validate import did_you_mean
from . import walk
from .base import LintContext, rule

_LISTED = 10  # names a hint lists
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _likely_typo(name: str, choices: list[str]) -> str | None:
    """A defined name ``name`` is a slip of the keyboard for: closer than did-you-mean asks.
    "book_appointment" is not "cancel_appointment" misspelt, but another tool to define."""
    guess = did_you_mean(name, choices)
    if guess is None or guess.lower() == name.lower():
        return guess
    return guess if difflib.SequenceMatcher(None, name, guess).ratio() >= 0.8 else None


def _define_tool(name: str, tools: list[str]) -> str:
    guess = _likely_typo(name, tools)
    if guess:
        return f'did you mean "{guess}"?'
    define = (
        f"define it under `tools:` (`{name}:` with a `description:` and what it does, such as "
        "`say:`, `transfer:` or `goto:`)"
    )
    if not tools:
        return define
    shown = ", ".join(tools[:_LISTED]) + (" …" if len(tools) > _LISTED else "")
    return f"{define}, or name one that is: {shown}"


def suggest(name: str, choices: list[str]) -> str | None:
    guess = did_you_mean(name, choices)
    if guess:
        return f'did you mean "{guess}"?'
    if choices:
        return "the names defined are: " + ", ".join(choices)
    return None


@rule(
    "unknown-state", "`start`, or a tool's or a step's `goto`, names a state that is not defined."
)
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
                hint=suggest(ctx.flow.start, states),
            )
    gotos: list[tuple[DataPath, str, str | None]] = [
        (("tools", name, "goto"), f'the tool "{name}"', tool.goto)
        for name, tool in ctx.flow.tools.items()
    ]
    gotos += [
        ((*found.path, "goto"), found.where, found.step.goto) for found in walk.steps(ctx.flow)
    ]
    for path, where, goto in gotos:
        if goto is None or goto in ctx.flow.states:
            continue
        if states:
            message = f'{where} goes to the state "{goto}", which is not defined'
        else:
            message = f'{where} goes to the state "{goto}", but this flow has no `states`'
        yield ctx.diagnostic(
            "unknown-state",
            path,
            message,
            hint=suggest(goto, states) if states else "add it under `states:`",
        )


@rule(
    "unknown-tool",
    "A state, `global_tools`, a keypad key, `collect.then` or a step names a tool that is not "
    "defined under `tools`, or lists a tool twice.",
)
def unknown_tool(ctx: LintContext) -> Iterator[Diagnostic]:
    tools = list(ctx.flow.tools)
    global_tools = set(ctx.flow.global_tools)
    seen: dict[str | None, set[str]] = {}  # names listed so far, by state (None: global_tools)
    for ref in walk.tool_refs(ctx.flow):
        listed = not ref.engine_run
        if listed:
            owner = seen.setdefault(ref.state, set())
            if ref.name in owner:
                yield ctx.diagnostic(
                    "unknown-tool",
                    ref.path,
                    f'{ref.where} lists the tool "{ref.name}" twice',
                    hint="remove the second one",
                )
            elif ref.state is not None and ref.name in global_tools:
                yield ctx.diagnostic(
                    "unknown-tool",
                    ref.path,
                    f'{ref.where} lists the tool "{ref.name}", which `global_tools` already '
                    "offers in every state",
                    hint=f"remove {ref.name} from this list",
                    severity=Severity.WARNING,
                )
            owner.add(ref.name)
        if ref.name in ctx.flow.tools:
            continue
        if ref.state is not None and listed:
            message = (
                f'{ref.where} offers the tool "{ref.name}", which is not defined under `tools`'
            )
        elif listed:
            message = f'{ref.where} lists the tool "{ref.name}", which is not defined under `tools`'
        else:
            message = f'{ref.where} runs the tool "{ref.name}", which is not defined under `tools`'
        hint = _define_tool(ref.name, tools)
        yield ctx.diagnostic("unknown-tool", ref.path, message, hint=hint)


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


def resolve(name: str | None, pool: list[str]) -> str | None:
    """The name as written when defined, else the one it most likely means (a misspelt name
    is reported by unknown-tool or unknown-state; following its meaning gives one message
    for one mistake)."""
    if name is None:
        return None
    return name if name in pool else did_you_mean(name, pool)


def _next_states(flow: Flow, state_name: str) -> set[str]:
    """The states a call in ``state_name`` can move to: through the tools it offers, its keys,
    `collect.then`, its steps, and the tools and fallbacks those run."""
    tools, states = list(flow.tools), list(flow.states)
    state = flow.states[state_name]
    collect = state.collect
    pending: list[Step] = []
    if (silence := flow.silence_of(state_name)) is not None:
        pending.extend(silence.steps)
    if collect is not None and collect.on_timeout is not None:
        pending.append(collect.on_timeout)
    if flow.limits.fallback is not None:
        pending.append(flow.limits.fallback)
    runs = [*flow.tools_of(state_name), *flow.keypad_of(state_name).values()]
    if collect is not None and collect.then is not None:
        runs.append(collect.then)
    found: set[str] = set()
    done: set[str] = set()
    while runs or pending:
        if pending:
            step = pending.pop()
            if (target := resolve(step.goto, states)) is not None:
                found.add(target)
            if step.tool is not None:
                runs.append(step.tool)
            continue
        name = resolve(runs.pop(), tools)
        if name is None or name in done:
            continue
        done.add(name)
        tool = flow.tools[name]
        if (target := resolve(tool.goto, states)) is not None:
            found.add(target)
        if tool.fallback is not None:
            pending.append(tool.fallback)
    return found


@rule(
    "unreachable-state",
    "A state that no call can reach: not the start, and nothing goes to it.",
    Severity.WARNING,
)
def unreachable_state(ctx: LintContext) -> Iterator[Diagnostic]:
    flow = ctx.flow
    start = flow.start_state
    if start is None or start not in flow.states:
        return
    reached = {start}
    frontier = [start]
    while frontier:
        for target in _next_states(flow, frontier.pop()):
            if target not in reached:
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
    "unused-tool",
    "A tool that nothing uses: no state offers it, and no key, `collect.then` or step runs it.",
    Severity.WARNING,
)
def unused_tool(ctx: LintContext) -> Iterator[Diagnostic]:
    if not ctx.flow.states:
        return  # without states every tool is offered
    tools = list(ctx.flow.tools)
    # A misspelt name is reported by unknown-tool, with the tool it most likely means; that
    # tool is not reported again as unused.
    used = {resolve(ref.name, tools) for ref in walk.tool_refs(ctx.flow)}
    for name in ctx.flow.tools:
        if name not in used:
            yield ctx.diagnostic(
                "unused-tool",
                ("tools", name),
                f'nothing uses the tool "{name}": no state offers it, and no key or step runs '
                "it, so it can never be called",
                hint=f"add {name} to the `tools:` list of a state (or to `global_tools`), "
                "or remove it",
                key=True,
            )

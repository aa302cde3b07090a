"""Where a flow names its tools and states, and where the engine acts by itself.

A tool is named by a state's `tools`, by `global_tools`, by a keypad key, by `collect.then`
and by a step's `tool`; a state by a step's `goto` (and a tool's). Steps sit in silence
ladders, `collect.on_timeout`, a tool's `fallback` and `limits.fallback`; outcomes in
`hours.when_closed` and `callers`. The rules walk them here, so each rule sees every place and
a message names the place in the author's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..model import Flow, Outcome, Silence, Step
from ..source import DataPath

__all__ = ["OutcomeAt", "StepAt", "ToolRef", "outcomes", "steps", "tool_refs"]


@dataclass(frozen=True, slots=True)
class StepAt:
    path: DataPath
    step: Step
    where: str  # e.g. 'step 2 of the `silence` of the state "menu"'
    state: str | None  # the state it belongs to; None: the flow's or a tool's


@dataclass(frozen=True, slots=True)
class ToolRef:
    path: DataPath
    name: str
    where: str  # e.g. 'the key "1" of the state "menu"'
    engine_run: bool  # run by the engine with no arguments (a key, `collect.then`, a step)
    state: str | None


@dataclass(frozen=True, slots=True)
class OutcomeAt:
    path: DataPath
    outcome: Outcome
    where: str  # "`hours.when_closed`" or "rule 2 under `callers`"


def _ladder(path: DataPath, ladder_of: str, flow: Flow, state: str | None) -> Iterator[StepAt]:
    silence = flow.silence if state is None else flow.states[state].silence
    if not isinstance(silence, Silence):
        return  # none written (the default ladder's lines are `lines`), or `off`
    for index, step in enumerate(silence.steps):
        yield StepAt(
            (*path, "silence", "steps", index), step, f"step {index + 1} of {ladder_of}", state
        )


def steps(flow: Flow) -> Iterator[StepAt]:
    """Every step of the flow, where it is written."""
    yield from _ladder((), "the flow's `silence`", flow, None)
    for name, state in flow.states.items():
        base = ("states", name)
        yield from _ladder(base, f'the `silence` of the state "{name}"', flow, name)
        if state.collect is not None and state.collect.on_timeout is not None:
            yield StepAt(
                (*base, "collect", "on_timeout"),
                state.collect.on_timeout,
                f'the `collect.on_timeout` of the state "{name}"',
                name,
            )
    for name, tool in flow.tools.items():
        if tool.fallback is not None:
            yield StepAt(
                ("tools", name, "fallback"),
                tool.fallback,
                f'the `fallback` of the tool "{name}"',
                None,
            )
    if flow.limits.fallback is not None:
        yield StepAt(("limits", "fallback"), flow.limits.fallback, "`limits.fallback`", None)


def tool_refs(flow: Flow) -> Iterator[ToolRef]:
    """Every place that names a tool, in file order of sections."""
    for state_name, state in flow.states.items():
        for index, name in enumerate(state.tools):
            path: DataPath = ("states", state_name, "tools", index)
            yield ToolRef(path, name, f'the state "{state_name}"', False, state_name)
    for index, name in enumerate(flow.global_tools):
        yield ToolRef(("global_tools", index), name, "`global_tools`", False, None)
    for key, name in flow.keypad.items():
        yield ToolRef(("keypad", key), name, f'the key "{key}" of the flow\'s `keypad`', True, None)
    for state_name, state in flow.states.items():
        for key, name in state.keypad.items():
            path = ("states", state_name, "keypad", key)
            yield ToolRef(
                path, name, f'the key "{key}" of the state "{state_name}"', True, state_name
            )
        if state.collect is not None and state.collect.then is not None:
            path = ("states", state_name, "collect", "then")
            where = f'the `collect.then` of the state "{state_name}"'
            yield ToolRef(path, state.collect.then, where, True, state_name)
    for found in steps(flow):
        if found.step.tool is not None:
            yield ToolRef((*found.path, "tool"), found.step.tool, found.where, True, found.state)


def outcomes(flow: Flow) -> Iterator[OutcomeAt]:
    """Every outcome decided before a call is answered."""
    if flow.hours is not None:
        yield OutcomeAt(("hours", "when_closed"), flow.hours.when_closed, "`hours.when_closed`")
    for index, rule in enumerate(flow.callers):
        yield OutcomeAt(("callers", index), rule, f"rule {index + 1} under `callers`")

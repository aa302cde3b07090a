"""Silence ladders: what the engine does when the caller says nothing."""

from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import Diagnostic, Severity
from ..model import Flow, Silence, Step
from ..source import DataPath
from .base import LintContext, rule
from .references import resolve as _resolve


def _lets_go(flow: Flow, step: Step, seen: frozenset[str]) -> bool:
    """Whether this last step ends a silent call: it hangs up, runs a tool that transfers or
    hangs up, or moves to a state whose own ladder does."""
    if step.hangup:
        return True
    tool = flow.tools.get(_resolve(step.tool, list(flow.tools)) or "")
    if tool is not None and (tool.transfer is not None or tool.hangup):
        return True
    target = _resolve(step.goto or (tool.goto if tool is not None else None), list(flow.states))
    if target is None or target in seen:
        return False
    ladder = flow.silence_of(target)
    return ladder is not None and _lets_go(flow, ladder.steps[-1], seen | {target})


def _ladders(flow: Flow) -> Iterator[tuple[DataPath, Silence, str | None]]:
    """The ladders written in the file. The default one ends the call by itself, and
    `silence: off` is the author's choice."""
    for state, ladder in flow.written_silences():
        path: DataPath = ("silence",) if state is None else ("states", state, "silence")
        yield path, ladder, state


@rule(
    "silence-never-ends",
    "A silence ladder whose last step never lets the caller go (no hangup or transfer).",
    Severity.WARNING,
)
def silence_never_ends(ctx: LintContext) -> Iterator[Diagnostic]:
    for path, ladder, state in _ladders(ctx.flow):
        last = ladder.steps[-1]
        seen = frozenset({state}) if state is not None else frozenset()
        if _lets_go(ctx.flow, last, seen):
            continue
        index = len(ladder.steps) - 1
        yield ctx.diagnostic(
            "silence-never-ends",
            (*path, "steps", index),
            "the last silence step repeats for as long as the caller says nothing, and it "
            "neither hangs up nor transfers: a caller who has gone keeps the call open until "
            "its time limit",
            hint="end the ladder with a step that lets the caller go, e.g. "
            '`- {say: "I\'ll end the call now. Goodbye.", hangup: true}`',
        )

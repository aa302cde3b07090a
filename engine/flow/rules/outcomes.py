"""What happens before a call is answered: caller rules, closed hours, and their outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePath

from ..diagnostics import Diagnostic
from . import walk
from .base import LintContext, rule

_CHOICES = ("reject", "say", "flow", "transfer")
_SUFFIXES = (".yaml", ".yml")


def flow_stem(name: str, *, bare: bool = False) -> str | None:
    """The name a `flow:` hand-off uses for a flow file: its file name without `.yaml`.

    A file name without a flow suffix has none (None). With ``bare``, ``name`` is what a
    hand-off says, read as the engine reads it: spaces trimmed, a `.yaml` suffix dropped.
    """
    text = name.strip() if bare else name
    for suffix in _SUFFIXES:
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text if bare else None


@rule(
    "outcome",
    "An outcome (`hours.when_closed`, a `callers` rule) with none, or more than one, of "
    "`reject`, `say`, `flow` and `transfer` (`say` may come with `transfer`).",
)
def outcome(ctx: LintContext) -> Iterator[Diagnostic]:
    for found in walk.outcomes(ctx.flow):
        chosen = [key for key in _CHOICES if getattr(found.outcome, key) is not None]
        if not chosen:
            yield ctx.diagnostic(
                "outcome",
                found.path,
                f"{found.where} does not say what happens to the call: give it one of "
                "`reject`, `say`, `flow` or `transfer`",
                hint="for example `reject: 480`, or `say:` a line to speak before hanging up",
                key=found.path[-1] == "when_closed",
            )
            continue
        if sorted(chosen) in (["say", "transfer"], [chosen[0]]):
            continue
        # In the order written, so the mark falls on the second one.
        chosen.sort(key=lambda k: _position(ctx, (*found.path, k)))
        extra = next(k for k in chosen[1:] if {chosen[0], k} != {"say", "transfer"})
        listed = ", ".join(f"`{key}`" for key in chosen[:-1]) + f" and `{chosen[-1]}`"
        yield ctx.diagnostic(
            "outcome",
            (*found.path, extra),
            f"{found.where} has {listed}, but a call can have only one outcome",
            hint="keep one of them (`say` may come with `transfer`: the line is heard first)",
            key=True,
        )


def _position(ctx: LintContext, path: tuple[str | int, ...]) -> tuple[int, int]:
    span = ctx.span(path, key=True)
    return span.line, span.col


@rule("caller-rule", "A `callers` rule that matches no caller: no `numbers` and not `anonymous`.")
def caller_rule(ctx: LintContext) -> Iterator[Diagnostic]:
    for index, rule_ in enumerate(ctx.flow.callers):
        if rule_.numbers or rule_.anonymous:
            continue
        yield ctx.diagnostic(
            "caller-rule",
            ("callers", index),
            f"rule {index + 1} under `callers` matches no caller: it has no `numbers` and is not "
            "for `anonymous` callers",
            hint='add `numbers: ["+1900*"]` (the callers it is for), or `anonymous: true`',
        )


@rule(
    "handoff-flow",
    "A `flow:` hand-off to a flow file that is not in the folder, or to the flow itself.",
)
def handoff_flow(ctx: LintContext) -> Iterator[Diagnostic]:
    own = flow_stem(PurePath(ctx.doc.file).name)
    for found in walk.outcomes(ctx.flow):
        name = found.outcome.flow
        if name is None or own is None or flow_stem(name, bare=True) != own:
            continue
        yield ctx.diagnostic(
            "handoff-flow",
            (*found.path, "flow"),
            f'{found.where} hands the call to "{name}", which is this flow itself: the call would '
            "be handed round and round, then refused",
            hint="name another flow file in this folder, or use `reject`, `say` or `transfer`",
        )

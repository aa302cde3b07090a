"""Keys the caller presses: the keypad map, digits collected, and tools a key press runs."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..diagnostics import Diagnostic, Severity, Span
from ..model import DTMF_KEYS, Flow
from ..source import DataPath
from . import walk
from .base import LintContext, rule

DIGITS = "0123456789"
# What people write for a key that has a symbol.
_KEY_WORDS = {
    "star": "*",
    "asterisk": "*",
    "hash": "#",
    "pound": "#",
    "number": "#",
    "octothorpe": "#",
    "sharp": "#",
}
# A line inside a `keypad:` block that YAML reads as a comment: `#: to_x` or `# : to_x`.
_HASH_COMMENT = re.compile(r"^(?P<indent>\s*)#\s*:\s*(?P<tool>[A-Za-z0-9_-]+)\s*$")


def _key_hint(key: str) -> str:
    word = key.strip().lower()
    if word in _KEY_WORDS:
        return f'write the key itself, in quotes: "{_KEY_WORDS[word]}"'
    if key.strip() in DTMF_KEYS:
        return f'write the key without spaces: "{key.strip()}"'
    if key.upper() in DTMF_KEYS:
        return f'keys A to D are capital letters: "{key.upper()}"'
    if key.isdigit() and len(key) > 1:
        return (
            f'use one key, such as "{key[-1]}" (to take a number of several digits the caller '
            "keys in, use `collect:` in a state)"
        )
    return "the keys are 0 to 9, *, # and A to D"


def _keypads(flow: Flow) -> Iterator[tuple[DataPath, dict[str, str]]]:
    yield ("keypad",), flow.keypad
    for name, state in flow.states.items():
        yield ("states", name, "keypad"), state.keypad


@rule(
    "keypad-key",
    "A `keypad` key that no phone can send (keys: 0-9, `*`, `#`, A-D), or a `#` that YAML reads as a "
    "comment.",
)
def keypad_key(ctx: LintContext) -> Iterator[Diagnostic]:
    for base, keypad in _keypads(ctx.flow):
        for key in keypad:
            if key in DTMF_KEYS:
                continue
            yield ctx.diagnostic(
                "keypad-key",
                (*base, key),
                f'"{key}" is not a key on a phone keypad; the keys are 0 to 9, *, # and A to D',
                hint=_key_hint(key),
                key=True,
            )
        yield from _hash_comments(ctx, base)
    for name, state in ctx.flow.states.items():
        collect = state.collect
        if collect is None or collect.finish_key is not None:
            continue
        path = ("states", name, "collect", "finish_key")
        span = ctx.doc.keys.get(path)
        if span is None:
            continue
        line = ctx.doc.lines[span.line - 1]
        if re.match(r"\s*finish_key\s*:\s*#", line[span.col - 1 :]):
            yield ctx.diagnostic(
                "keypad-key",
                path,
                "`finish_key` is empty here: in YAML a # that is not in quotes starts a "
                "comment, so no key ends the digits keyed in",
                hint='write the key in quotes: finish_key: "#"',
                key=True,
            )


def _hash_comments(ctx: LintContext, base: DataPath) -> Iterator[Diagnostic]:
    """`#: to_operator` under `keypad:` is a comment to YAML: the key silently vanishes."""
    if base not in ctx.doc.keys:
        return
    key_span = ctx.doc.keys[base]
    lines = ctx.doc.lines
    opener = lines[key_span.line - 1]
    outer = len(opener) - len(opener.lstrip())
    for number in range(key_span.line + 1, len(lines) + 1):
        line = lines[number - 1]
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and len(line) - len(line.lstrip()) <= outer:
            break  # the next key of the enclosing mapping: the keypad block is over
        found = _HASH_COMMENT.match(line)
        if found is None or len(found["indent"]) <= outer:
            continue
        start = len(found["indent"]) + 1
        yield ctx.diagnostic(
            "keypad-key",
            Span(number, start, number, len(line.rstrip()) + 1),
            "this line is a comment, not a key: in YAML a # that is not in quotes starts a "
            f'comment, so the key # never runs "{found["tool"]}"',
            hint=f'write the key in quotes: "#": {found["tool"]}',
        )


@rule(
    "keypad-tool-args",
    "A tool run by a key, `collect.then` or a step needs parameters, and nobody passes them.",
)
def keypad_tool_args(ctx: LintContext) -> Iterator[Diagnostic]:
    for ref in walk.tool_refs(ctx.flow):
        tool = ctx.flow.tools.get(ref.name)
        if not ref.engine_run or tool is None:
            continue
        needed = [name for name, spec in tool.parameters.items() if spec.required]
        if not needed:
            continue
        listed = ", ".join(f'"{name}"' for name in needed)
        noun = "parameter" if len(needed) == 1 else "parameters"
        yield ctx.diagnostic(
            "keypad-tool-args",
            ref.path,
            f'{ref.where} runs the tool "{ref.name}", which needs the {noun} {listed}; the '
            "engine runs it with no values, as nobody is there to give them",
            hint="run a tool without parameters here (it may read keyed digits as "
            "`{{ saved.NAME }}`), or let the model call this one",
        )


@rule(
    "keypad-conflict",
    "A key with two meanings: a digit or the finish key of `collect` also in the keypad map.",
)
def keypad_conflict(ctx: LintContext) -> Iterator[Diagnostic]:
    flow = ctx.flow
    for name, state in flow.states.items():
        collect = state.collect
        if collect is None:
            continue
        finish = collect.finish_key
        for key, tool in flow.keypad_of(name).items():
            own = key in state.keypad
            if key in DIGITS:
                free = ", ".join(f'"{k}"' for k in ("*", "#") if k != finish)
                hint = f"in a state that collects digits, use {free} or A to D for keys"
                if own:
                    message = (
                        f'the state "{name}" collects digits, so the key "{key}" is read as a '
                        f'digit there and never runs "{tool}"'
                    )
                else:
                    message = (
                        f'the flow\'s key "{key}" ({tool}) does not work in the state "{name}": '
                        f"that state collects digits, so {key} is read as a digit there"
                    )
            elif key == finish:
                other = "*" if key == "#" else "#"
                hint = f'give {tool} another key, or set `finish_key: "{other}"` in `collect`'
                if own:
                    message = (
                        f'in the state "{name}" the key "{key}" runs "{tool}" and also ends the '
                        "digits keyed in (`collect.finish_key`): one key, two meanings"
                    )
                else:
                    message = (
                        f'the flow\'s key "{key}" ({tool}) has two meanings in the state '
                        f'"{name}": there it also ends the digits keyed in (`collect.finish_key`)'
                    )
            else:
                continue
            if own:
                yield ctx.diagnostic(
                    "keypad-conflict", ("states", name, "keypad", key), message, hint=hint, key=True
                )
            else:
                # The flow's keys apply in every state; this one gives way in this state only.
                yield ctx.diagnostic(
                    "keypad-conflict",
                    ("states", name, "collect"),
                    message,
                    hint=hint
                    if key == finish
                    else f'move "{key}": {tool} from the flow\'s `keypad` to the `keypad` of each '
                    "state where it should work, or give it a key that is not a digit",
                    key=True,
                    severity=Severity.WARNING,
                )

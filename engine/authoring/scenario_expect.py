"""Expectations against what happened: each unmet one is a ``Failure`` in plain words.

``expected`` repeats what the scenario says (as the author wrote it); ``happened`` says what
the call did instead. Neither ever shows an ``env`` value: what happened is masked before it
gets here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .scenario_diff import closest_difference
from .scenario_format import Expectation, Where
from .scenario_play import Failure, Observed

__all__ = ["check"]


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _going(observed: Observed) -> str:
    return observed.ended or "the call is still going"


def _answer_words(observed: Observed) -> str:
    if observed.refusal is not None:
        status, reason = observed.refusal
        return f"the call was rejected with {status} ({reason})"
    return f"the call was answered by {observed.flow_file}"


def check(expect: tuple[Expectation, ...], observed: Observed) -> list[Failure]:
    failures: list[Failure] = []
    for item in expect:
        found = _CHECKS[item.key](item.value, observed, item.where)
        failures += found
    return failures


def _answered(value: bool, observed: Observed, where: Where) -> list[Failure]:
    if observed.answered == value:
        return []
    return [Failure(where, f"answered: {_q(value)}", _answer_words(observed))]


def _rejected(value: int, observed: Observed, where: Where) -> list[Failure]:
    if observed.refusal is not None and observed.refusal[0] == value:
        return []
    return [Failure(where, f"rejected: {value}", _answer_words(observed))]


def _state(value: str, observed: Observed, where: Where) -> list[Failure]:
    if observed.answered and observed.state == value:
        return []
    if not observed.answered:
        happened = _answer_words(observed)
    else:
        path = " → ".join(observed.states)
        happened = f"the call is in the state {_q(observed.state)} (it went {path})"
    return [Failure(where, f"state: {_q(value)}", happened)]


def _in_order(
    key: str, value: tuple[str, ...], lines: list[str], who: str, where: Where, verb: str
) -> list[Failure]:
    # Each expected line, in this order, among the lines (others may come between them).
    at = 0
    for number, line in enumerate(value):
        wanted = line.strip()
        start = at
        while at < len(lines) and lines[at].strip() != wanted:
            at += 1
        if at == len(lines):
            before = f" (after {_q(value[number - 1])})" if number else ""
            shown = "; ".join(_q(s) for s in lines) if lines else "nothing"
            if any(s.strip() == wanted for s in lines[:start]):
                detail: tuple[str, ...] = (
                    f"it was {verb}, but before {_q(value[number - 1])}: the order differs",
                )
            else:  # the closest line after the last one found: where it first differs
                detail = closest_difference(wanted, lines[start:], verb)
            return [Failure(where, f"{key}: {_q(line)}{before}", f"{who}: {shown}", detail)]
        at += 1
    return []


def _said(value: tuple[str, ...], observed: Observed, where: Where) -> list[Failure]:
    return _in_order("said", value, observed.said, "the agent said", where, "heard")


def _cut_short(value: tuple[str, ...], observed: Observed, where: Where) -> list[Failure]:
    return _in_order(
        "cut_short", value, observed.cut_short, "the lines cut short", where, "cut short"
    )


def _told(value: tuple[str, ...], observed: Observed, where: Where) -> list[Failure]:
    return _in_order("told", value, observed.told, "the model was told", where, "told")


def _flow(value: str, observed: Observed, where: Where) -> list[Failure]:
    if observed.flow_file is not None and Path(observed.flow_file).stem == value:
        return []
    return [Failure(where, f"flow: {_q(value)}", _answer_words(observed))]


def _saved(value: dict[str, Any], observed: Observed, where: Where) -> list[Failure]:
    failures = []
    for name, wanted in value.items():
        if name not in observed.saved:
            kept = ", ".join(observed.saved) or "nothing"
            failures.append(
                Failure(where, f"saved {name}: {_q(wanted)}", f"nothing saved as {name} ({kept})")
            )
        elif observed.saved[name] != wanted:
            got = observed.saved[name]
            failures.append(Failure(where, f"saved {name}: {_q(wanted)}", f"{name}: {_q(got)}"))
    return failures


def _transfers_tried(value: tuple[str, ...], observed: Observed, where: Where) -> list[Failure]:
    if list(value) == observed.transfers_tried:
        return []
    tried = ", ".join(_q(t) for t in observed.transfers_tried) or "none"
    wanted = ", ".join(_q(t) for t in value) or "none"
    return [Failure(where, f"transfers_tried: {wanted}", f"transfers tried: {tried}")]


def _transfer(value: str | bool, observed: Observed, where: Where) -> list[Failure]:
    actual = observed.transfer
    if value is False:
        if actual is None:
            return []
        return [Failure(where, "transfer: false (no transfer)", f"transferred to {_q(actual)}")]
    if actual == value:
        return []
    if actual is None:
        happened = f"no transfer ({_going(observed)})"
    else:
        happened = f"transferred to {_q(actual)}"
    return [Failure(where, f"transfer: {_q(value)}", happened)]


def _hangup(value: bool, observed: Observed, where: Where) -> list[Failure]:
    if observed.hangup == value:
        return []
    happened = "the flow hung up" if observed.hangup else f"no hangup ({_going(observed)})"
    return [Failure(where, f"hangup: {_q(value)}", happened)]


def _transcript(
    value: tuple[tuple[str, str], ...], observed: Observed, where: Where
) -> list[Failure]:
    actual = [(who, text.strip()) for who, text in observed.transcript]
    wanted = [(who, text.strip()) for who, text in value]
    if actual == wanted:
        return []

    def show(turns: list[tuple[str, str]]) -> str:
        return "; ".join(f"{who}: {_q(text)}" for who, text in turns) or "nothing"

    return [Failure(where, f"transcript: {show(wanted)}", f"transcript: {show(actual)}")]


def _records(kind: str, made: list[dict[str, Any]], value: tuple, where: Where) -> list[Failure]:
    failures: list[Failure] = []
    if len(made) != len(value):
        tools = ", ".join(_q(r["tool"]) for r in made) or "none"
        noun = "request" if kind == "requests" else "tool result"
        failures.append(
            Failure(
                where,
                f"{len(value)} {noun}{'s' if len(value) != 1 else ''}",
                f"{len(made)} {noun}{'s' if len(made) != 1 else ''} ({tools})",
            )
        )
    for (record, _record_where), actual in zip(value, made, strict=False):
        for name, (wanted, field_where) in record.items():
            got = actual.get(name)
            if name == "headers":
                have = {k.lower(): v for k, v in (got or {}).items()}
                for header, header_value in wanted.items():
                    if have.get(header.lower()) != header_value:
                        shown = have.get(header.lower())
                        failures.append(
                            Failure(
                                field_where,
                                f"{header}: {_q(header_value)}",
                                f"{header}: {_q(shown)}" if shown is not None else "no such header",
                            )
                        )
            elif got != wanted:
                failures.append(Failure(field_where, f"{name}: {_q(wanted)}", f"{name}: {_q(got)}"))
    return failures


def _requests(value: tuple, observed: Observed, where: Where) -> list[Failure]:
    return _records("requests", observed.requests, value, where)


def _tool_results(value: tuple, observed: Observed, where: Where) -> list[Failure]:
    return _records("tool_results", observed.tool_results, value, where)


# Each `expect` key's check: (the expected value as read, what happened, where it was written).
_CHECKS: dict[str, Callable[[Any, Observed, Where], list[Failure]]] = {
    "answered": _answered,
    "rejected": _rejected,
    "flow": _flow,
    "state": _state,
    "said": _said,
    "cut_short": _cut_short,
    "told": _told,
    "saved": _saved,
    "transfer": _transfer,
    "transfers_tried": _transfers_tried,
    "hangup": _hangup,
    "transcript": _transcript,
    "requests": _requests,
    "tool_results": _tool_results,
}

"""Scenario files (``*.test.yaml``): read, check and turn into plain records.

A scenario file is YAML read exactly as a flow is (``load_source``: YAML 1.2, spans of every
node). Every mistake becomes a ``Diagnostic`` at the file, line and column of the value, with
"did you mean" where a name is close to one that exists, and the rule ``scenario``. The
checks against the flow (a tool, state or number it lacks) live here too, so the runner only
ever sees scenarios that make sense.

The format is described for flow authors in ``docs/scenarios.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..flow.diagnostics import Diagnostic, Span
from ..flow.model import Flow
from ..flow.numbers import normalize_number
from ..flow.source import DataPath, SourceDocument, SourceError, load_source
from ..flow.validate import did_you_mean, kind_of

__all__ = [
    "RULE",
    "Call",
    "Expectation",
    "Scenario",
    "ScenarioFile",
    "ServiceReply",
    "Step",
    "Transfer",
    "Where",
    "check_against_flow",
    "parse_scenarios",
]

RULE = "scenario"

TOP_KEYS = ("flow", "env", "scenarios")
SCENARIO_KEYS = ("name", "call", "env", "services", "transfers", "script", "expect")
CALL_KEYS = ("from", "to", "at", "headers")
SERVICE_REPLY_KEYS = ("status", "json", "text", "after", "timeout", "unreachable")
STEP_KEYS = ("caller", "model", "press", "silence", "wait", "drop", "expect")
# `press:` and `wait:` written as a mapping, for a step that comes while the agent speaks.
PRESS_KEYS = ("keys", "while_agent_speaks")
WAIT_KEYS = ("seconds", "while_agent_speaks")
MODEL_KEYS = ("says", "calls", "args")
EXPECT_KEYS = (
    "answered",
    "rejected",
    "flow",
    "state",
    "said",
    "cut_short",
    "told",
    "saved",
    "requests",
    "transfer",
    "transfers_tried",
    "hangup",
    "transcript",
    "tool_results",
)
# How a transfer goes, once the flow has sent it (SIP REFER).
TRANSFER_OUTCOMES = ("answered", "unanswered", "refused")
# `answered after 20`: the target rings that long (seconds, or with a unit) before a person
# answers; the call stays up meanwhile, as it does on a real trunk.
ANSWERED_AFTER = "answered after"
MAX_RING_S = 300.0
_ANSWERED_AFTER = re.compile(r"^\s*answered\s+after\b\s*(.*)$", re.IGNORECASE)
MAX_SILENCES = 20  # `silence: N` in one step
MAX_WAIT_S = 4 * 3600.0  # `wait:`; a call lasts at most an hour
REQUEST_KEYS = ("tool", "method", "url", "headers", "body")
TOOL_RESULT_KEYS = ("tool", "ok", "error", "status")
TRANSCRIPT_KEYS = ("caller", "agent")
_DIGITS = re.compile(r"^[0-9*#A-Da-d]+$")
_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hours?)?\s*$", re.IGNORECASE
)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class Where:
    """A place in the scenario file, 1-based."""

    line: int
    col: int


@dataclass(frozen=True)
class ServiceReply:
    """How an outside service replies to one request (a scenario's `services:` entry)."""

    status: int = 200
    json: Any = None
    has_json: bool = False
    text: str | None = None
    after: float = 0.0  # seconds the service takes to answer
    timeout: bool = False
    unreachable: bool = False


@dataclass(frozen=True)
class Transfer:
    """How one transfer goes once the flow has sent it: ``answered`` (at once, or after
    ``rings`` seconds of ringing), ``unanswered`` or ``refused``."""

    outcome: str
    rings: float = 0.0  # answered: seconds the target rings first (0: at once)


@dataclass(frozen=True)
class Expectation:
    """One `key: value` under `expect`, with its place."""

    key: str
    value: Any
    where: Where


@dataclass(frozen=True)
class Step:
    kind: str  # caller, model, press, silence, wait, drop, expect
    where: Where
    text: str = ""  # caller's line, digits
    count: int = 1  # silence: how many in a row
    seconds: float = 0.0  # wait: how long
    says: str | None = None
    calls: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    expect: tuple[Expectation, ...] = ()
    # press, wait: the step comes while the agent's line still plays, not after it is heard
    while_agent_speaks: bool = False


@dataclass(frozen=True)
class Call:
    caller: str  # the From number or header value
    dialled: str  # the To number or header value
    at: datetime | None  # None: the default time; naive: the flow's local time
    headers: tuple[tuple[str, str], ...]
    to_where: Where


@dataclass
class Scenario:
    name: str
    where: Where
    index: int
    call: Call
    env: dict[str, str]
    services: dict[str, list[ServiceReply]]
    services_where: dict[str, Where]
    services_listed: set[str]
    steps: list[Step]
    expect: tuple[Expectation, ...]
    # How each transfer goes, in order; a single outcome (listed False) goes for every one.
    transfers: tuple[Transfer, ...] = ()
    transfers_listed: bool = False
    transfers_where: Where | None = None
    ok: bool = True  # False: it has problems of its own and is not run

    def expectations(self) -> list[Expectation]:
        """Every expectation: those of `- expect:` steps, then the scenario's own."""
        found = [e for step in self.steps for e in step.expect]
        return found + list(self.expect)


@dataclass
class ScenarioFile:
    path: str
    text: str
    flow_path: Path | None
    flow_where: Where
    env: dict[str, str]
    scenarios: list[Scenario]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        """False when a problem of the whole file (not of one scenario) stops every run."""
        return self.flow_path is not None


DEFAULT_CALLER = "+14155550100"
NO_NUMBER_DIALLED = "+15005550000"  # dialled when the flow answers only "*"


class _Reader:
    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.problems: list[tuple[int | None, Diagnostic]] = []
        self.scenario: int | None = None  # the scenario being read; None: the file itself

    def where(self, path: DataPath, *, key: bool = False) -> Where:
        span = self.doc.span(path, key=key)
        return Where(span.line, span.col)

    def err(self, path: DataPath, message: str, hint: str | None = None, *, key: bool = False):
        span = self.doc.span(path, key=key)
        self.problems.append(
            (self.scenario, Diagnostic.at(self.doc.file, span, RULE, message, hint=hint))
        )

    def err_at(self, span: Span, message: str, hint: str | None = None) -> None:
        self.problems.append(
            (self.scenario, Diagnostic.at(self.doc.file, span, RULE, message, hint=hint))
        )

    def mapping(
        self, path: DataPath, value: Any, keys: tuple[str, ...], what: str
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.err(path, f"{what} must be a mapping (indented `key: value` lines)")
            return None
        for key in value:
            if key not in keys:
                guess = did_you_mean(key, keys)
                hint = (
                    f'did you mean "{guess}"?'
                    if guess
                    else f"the keys of {what} are: " + (", ".join(keys))
                )
                self.err((*path, key), f'unknown key "{key}" in {what}', hint, key=True)
        return value

    def text(self, path: DataPath, value: Any, what: str) -> str | None:
        if isinstance(value, str):
            return value
        raw = self.doc.raw.get(path)
        if raw is not None and isinstance(value, int | float) and not isinstance(value, bool):
            self.err(path, f'{what} must be text: write "{raw}" in quotes', f'{what}: "{raw}"')
            return None
        self.err(path, f"{what} must be text, not {kind_of(value)}")
        return None

    def flag(self, path: DataPath, value: Any, what: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.err(path, f"{what} must be true or false, not {kind_of(value)}")
        return None

    def listing(self, path: DataPath, value: Any, what: str) -> list[Any] | None:
        if isinstance(value, list):
            return value
        self.err(path, f"{what} must be a list (`- item` lines, or `[a, b]`)")
        return None


def parse_scenarios(path: str, text: str) -> ScenarioFile:
    """Read one scenario file's text. Problems are in ``diagnostics``; never raises."""
    default_flow = _default_flow(Path(path))
    result = ScenarioFile(path, text, None, Where(1, 1), {}, [])
    try:
        doc = load_source(path, text)
    except SourceError as exc:
        _file_problem(result, exc.diagnostic)
        return result
    reader = _Reader(doc)
    data = doc.data
    if not isinstance(data, dict):
        reader.err((), "a scenario file is a mapping with a `scenarios:` list", _EXAMPLE_HINT)
        _finish(result, reader)
        return result
    reader.mapping((), data, TOP_KEYS, "a scenario file")
    flow_name = data.get("flow")
    if "flow" in data:
        flow_text = reader.text(("flow",), flow_name, "flow")
        result.flow_where = reader.where(("flow",))
        if flow_text is not None:
            result.flow_path = Path(path).parent / flow_text
            if not result.flow_path.is_file():
                reader.err(("flow",), f"there is no flow file {flow_text} beside this file")
                result.flow_path = None
    else:
        result.flow_path = default_flow
        if default_flow is None or not default_flow.is_file():
            shown = default_flow.name if default_flow else "?"
            reader.err(
                (),
                f"this file tests {shown}, which does not exist",
                "name the flow it tests with `flow: some-flow.yaml`",
            )
            result.flow_path = None
    if "env" in data:
        result.env = _env(reader, ("env",), data["env"]) or {}
    scenarios = data.get("scenarios")
    if "scenarios" not in data:
        reader.err((), "a scenario file needs a `scenarios:` list", _EXAMPLE_HINT)
    else:
        items = reader.listing(("scenarios",), scenarios, "scenarios")
        if items is not None and not items:
            reader.err(("scenarios",), "`scenarios:` is empty; write at least one scenario")
        for index, item in enumerate(items or []):
            reader.scenario = index
            scenario = _scenario(reader, ("scenarios", index), item, index)
            if scenario is not None:
                result.scenarios.append(scenario)
        reader.scenario = None
    _finish(result, reader)
    return result


_EXAMPLE_HINT = "start from `scenarios:` then `- name: …` (see docs/scenarios.md)"


def _file_problem(result: ScenarioFile, diagnostic: Diagnostic) -> None:
    result.diagnostics.append(diagnostic)
    result.flow_path = None  # nothing runs


def _finish(result: ScenarioFile, reader: _Reader) -> None:
    failed_scenarios = {index for index, _ in reader.problems if index is not None}
    if any(index is None for index, _ in reader.problems):
        result.flow_path = None  # a problem of the file itself: nothing runs
    for scenario in result.scenarios:
        if scenario.index in failed_scenarios:
            scenario.ok = False
    result.diagnostics.extend(d for _, d in reader.problems)
    result.diagnostics.sort(key=Diagnostic.sort_key)


def _default_flow(path: Path) -> Path | None:
    name = path.name
    for suffix in (".test.yaml", ".test.yml"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            for ext in (".yaml", ".yml"):
                candidate = path.with_name(stem + ext)
                if candidate.is_file():
                    return candidate
            return path.with_name(stem + ".yaml")
    return None


def _env(reader: _Reader, path: DataPath, value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        reader.err(path, "env must be a mapping of names to text (`ACME_TOKEN: test-token`)")
        return None
    env: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            reader.err((*path, name), f"the value of env {name} must be text, not {kind_of(item)}")
            continue
        env[name] = item if isinstance(item, str) else reader.doc.raw.get((*path, name), str(item))
    return env


def _scenario(reader: _Reader, path: DataPath, value: Any, index: int) -> Scenario | None:
    data = reader.mapping(path, value, SCENARIO_KEYS, "a scenario")
    if data is None:
        return None
    name = f"scenario {index + 1}"
    if "name" not in data:
        reader.err(path, "a scenario needs a `name:` that says what it shows")
    else:
        name = reader.text((*path, "name"), data["name"], "name") or name
    call = _call(reader, (*path, "call"), data.get("call", {}), "call" in data)
    env = _env(reader, (*path, "env"), data["env"]) if "env" in data else {}
    services: dict[str, list[ServiceReply]] = {}
    services_where: dict[str, Where] = {}
    services_listed: set[str] = set()
    if "services" in data:
        spath = (*path, "services")
        table = data["services"]
        if not isinstance(table, dict):
            reader.err(spath, "services must be a mapping: a tool's name, then its answer")
        else:
            for tool, given in table.items():
                services_where[tool] = reader.where((*spath, tool), key=True)
                replies = _service_replies(reader, (*spath, tool), given)
                if replies is not None:
                    services[tool] = replies
                    if isinstance(given, list):
                        services_listed.add(tool)
    transfers: tuple[Transfer, ...] = ()
    transfers_listed = False
    if "transfers" in data:
        transfers, transfers_listed = _transfers(reader, (*path, "transfers"), data["transfers"])
    steps: list[Step] = []
    if "script" in data:
        items = reader.listing((*path, "script"), data["script"], "script") or []
        for number, item in enumerate(items):
            step = _step(reader, (*path, "script", number), item)
            if step is not None:
                steps.append(step)
    expect: tuple[Expectation, ...] = ()
    if "expect" in data:
        expect = _expect(reader, (*path, "expect"), data["expect"])
    return Scenario(
        name=name,
        where=reader.where(path),
        index=index,
        call=call,
        env=env or {},
        services=services,
        services_where=services_where,
        services_listed=services_listed,
        steps=steps,
        expect=expect,
        transfers=transfers,
        transfers_listed=transfers_listed,
        transfers_where=reader.where((*path, "transfers")) if "transfers" in data else None,
    )


def _transfers(reader: _Reader, path: DataPath, value: Any) -> tuple[tuple[Transfer, ...], bool]:
    """`transfers: unanswered` (every transfer) or `[unanswered, answered]` (in order);
    `answered after 20` rings 20 seconds before it is answered."""
    listed = isinstance(value, list)
    items = value if listed else [value]
    if listed and not items:
        reader.err(path, "the list of transfers is empty; write at least one")
        return (), False
    found: list[Transfer] = []
    ways = ", ".join([*TRANSFER_OUTCOMES, f"{ANSWERED_AFTER} 20"])
    for i, item in enumerate(items):
        ipath = (*path, i) if listed else path
        if not isinstance(item, str):
            reader.err(ipath, f"a transfer goes one of these ways: {ways} (not {kind_of(item)})")
            return (), False
        transfer = _transfer(reader, ipath, item)
        if transfer is None:
            return (), False
        found.append(transfer)
    return tuple(found), listed


def _transfer(reader: _Reader, path: DataPath, item: str) -> Transfer | None:
    ringing = _ANSWERED_AFTER.match(item)
    if ringing is not None:
        seconds = _duration(ringing.group(1))
        hint = (
            f"write the seconds it rings, more than 0 and at most {MAX_RING_S:g}: "
            f'"{ANSWERED_AFTER} 20" or "{ANSWERED_AFTER} 1 minute"'
        )
        if seconds is None:
            reader.err(
                path,
                f'"{item}" does not say how long the transfer rings before it is answered',
                hint,
            )
            return None
        if seconds > MAX_RING_S:
            reader.err(
                path, f'"{item}" rings too long: a phone is answered or given up on sooner', hint
            )
            return None
        return Transfer("answered", seconds)
    if item not in TRANSFER_OUTCOMES:
        guess = did_you_mean(item, TRANSFER_OUTCOMES)
        reader.err(
            path,
            f'"{item}" is not how a transfer goes',
            f'did you mean "{guess}"?'
            if guess
            else "write one of: " + ", ".join([*TRANSFER_OUTCOMES, f"{ANSWERED_AFTER} 20"]),
        )
        return None
    return Transfer(item)


def _call(reader: _Reader, path: DataPath, value: Any, given: bool) -> Call:
    data = reader.mapping(path, value, CALL_KEYS, "call") if given else {}
    data = data or {}
    caller = DEFAULT_CALLER
    dialled = ""
    at = None
    headers: list[tuple[str, str]] = []
    if "from" in data:
        caller = reader.text((*path, "from"), data["from"], "from") or caller
    if "to" in data:
        dialled = reader.text((*path, "to"), data["to"], "to") or ""
    if "at" in data:
        text = reader.text((*path, "at"), data["at"], "at")
        if text is not None:
            try:
                at = datetime.fromisoformat(text)
            except ValueError:
                reader.err(
                    (*path, "at"),
                    f'"{text}" is not a date and time',
                    'write it as "2026-11-23T10:00:00-05:00" (or "2026-11-23 10:00" for the '
                    "flow's own time zone)",
                )
    if "headers" in data:
        hpath = (*path, "headers")
        table = data["headers"]
        if not isinstance(table, dict):
            reader.err(hpath, "headers must be a mapping of SIP header names to text")
        else:
            for name, item in table.items():
                text = reader.text((*hpath, name), item, f"the header {name}")
                if text is not None:
                    headers.append((name, text))
    to_where = reader.where((*path, "to")) if "to" in data else reader.where(path)
    return Call(caller, dialled, at, tuple(headers), to_where)


def _service_replies(reader: _Reader, path: DataPath, value: Any) -> list[ServiceReply] | None:
    if isinstance(value, list):
        if not value:
            reader.err(path, "the list of answers is empty; write at least one")
            return None
        found = [_service_reply(reader, (*path, i), item) for i, item in enumerate(value)]
        return None if any(r is None for r in found) else [r for r in found if r is not None]
    reply = _service_reply(reader, path, value)
    return None if reply is None else [reply]


def _service_reply(reader: _Reader, path: DataPath, value: Any) -> ServiceReply | None:
    data = reader.mapping(path, value, SERVICE_REPLY_KEYS, "a service's answer")
    if data is None:
        return None
    status = 200
    if "status" in data:
        raw = data["status"]
        if isinstance(raw, bool) or not isinstance(raw, int) or not 100 <= raw <= 599:
            reader.err((*path, "status"), "status must be an HTTP status, 100 to 599 (200: OK)")
            return None
        status = raw
    if "json" in data and "text" in data:
        reader.err((*path, "text"), "an answer has `json:` or `text:`, not both", key=True)
        return None
    text = None
    if "text" in data:
        text = reader.text((*path, "text"), data["text"], "text")
        if text is None:
            return None
    after = 0.0
    if "after" in data:
        raw = data["after"]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 60:
            reader.err(
                (*path, "after"),
                "after is the seconds the service takes to answer, 0 to 60 (e.g. `after: 3`)",
            )
            return None
        after = float(raw)
    flags = {}
    for name in ("timeout", "unreachable"):
        if name in data:
            flag = reader.flag((*path, name), data[name], name)
            if flag is None:
                return None
            flags[name] = flag
    return ServiceReply(
        status=status,
        json=data.get("json"),
        has_json="json" in data,
        text=text,
        after=after,
        timeout=flags.get("timeout", False),
        unreachable=flags.get("unreachable", False),
    )


def _step(reader: _Reader, path: DataPath, value: Any) -> Step | None:
    if not isinstance(value, dict) or len(value) != 1:
        reader.err(
            path,
            "a script step is one `key: value`: caller, model, press, silence, wait, drop or "
            "expect",
            'for example `- caller: "I have a question about my bill."`',
        )
        return None
    reader.mapping(path, value, STEP_KEYS, "a script step")
    ((kind, item),) = value.items()
    where = reader.where(path)
    vpath = (*path, kind)
    if kind == "caller":
        text = reader.text(vpath, item, "caller")
        return None if text is None else Step("caller", where, text=text)
    if kind == "press":
        item, speaking = _while_speaking(reader, vpath, item, PRESS_KEYS, "keys", "press")
        if item is _BAD:
            return None
        long_form = speaking is not None
        kpath = (*vpath, "keys") if long_form else vpath
        text = reader.text(kpath, item, "keys" if long_form else "press")
        if text is None:
            return None
        if not _DIGITS.fullmatch(text):
            reader.err(kpath, f'"{text}" is not keypad keys (0-9, *, # and A-D)')
            return None
        return Step("press", where, text=text.upper(), while_agent_speaks=bool(speaking))
    if kind == "silence":
        if item is True:
            return Step("silence", where)
        if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= MAX_SILENCES:
            return Step("silence", where, count=item)
        reader.err(
            vpath,
            f"write `silence: true` for one silence, or how many in a row (1 to {MAX_SILENCES})",
            "for example `- silence: 3`",
        )
        return None
    if kind == "wait":
        item, speaking = _while_speaking(reader, vpath, item, WAIT_KEYS, "seconds", "wait")
        if item is _BAD:
            return None
        seconds = _duration(item)
        if seconds is None:
            reader.err(
                (*vpath, "seconds") if speaking is not None else vpath,
                "write how long to wait in seconds (`wait: 30`) or with a unit "
                '(`wait: "5 minutes"`)',
            )
            return None
        return Step("wait", where, seconds=seconds, while_agent_speaks=bool(speaking))
    if kind == "drop":
        if item is not True:
            reader.err(vpath, "write `drop: true`")
            return None
        return Step(kind, where)
    if kind == "model":
        return _model_step(reader, vpath, item, where)
    if kind == "expect":
        return Step("expect", where, expect=_expect(reader, vpath, item))
    return None


def _while_speaking(
    reader: _Reader, path: DataPath, item: Any, keys: tuple[str, ...], main: str, kind: str
) -> tuple[Any, bool | None]:
    """`press: "1"`, or `press: {keys: "1", while_agent_speaks: true}` (and `wait:` alike).

    Returns the step's own value and the flag (None: the short form); ``_BAD`` as the value
    when the mapping is wrong (already reported)."""
    if not isinstance(item, dict):
        return item, None
    reader.mapping(path, item, keys, kind)
    if main not in item:
        reader.err(path, f"`{kind}:` written as a mapping needs `{main}:`", f"{_LONG_FORMS[kind]}")
        return _BAD, None
    speaking = False
    if "while_agent_speaks" in item:
        flag = reader.flag(
            (*path, "while_agent_speaks"), item["while_agent_speaks"], "while_agent_speaks"
        )
        if flag is None:
            return _BAD, None
        speaking = flag
    if any(key not in keys for key in item):
        return _BAD, None
    return item[main], speaking


_LONG_FORMS = {
    "press": 'for example `- press: {keys: "1", while_agent_speaks: true}`',
    "wait": "for example `- wait: {seconds: 2, while_agent_speaks: true}`",
}


def _duration(value: Any) -> float | None:
    """Seconds from `30`, `2.5`, `"90 seconds"`, `"5 minutes"`, `"1 hour"`; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        unit = (match.group(2) or "s").lower()
        scale = 3600.0 if unit.startswith("h") else 60.0 if unit.startswith("m") else 1.0
        seconds = float(match.group(1)) * scale
    else:
        return None
    return seconds if 0 < seconds <= MAX_WAIT_S else None


def _model_step(reader: _Reader, path: DataPath, value: Any, where: Where) -> Step | None:
    data = reader.mapping(path, value, MODEL_KEYS, "model")
    if data is None:
        return None
    says = calls = None
    args: dict[str, Any] = {}
    if "says" in data:
        says = reader.text((*path, "says"), data["says"], "says")
    if "calls" in data:
        calls = reader.text((*path, "calls"), data["calls"], "calls")
    if "args" in data:
        if "calls" not in data:
            reader.err((*path, "args"), "`args:` goes with `calls:`", key=True)
        elif not isinstance(data["args"], dict):
            reader.err((*path, "args"), "args must be a mapping (`order_id: A1`)")
        else:
            args = data["args"]
    if says is None and calls is None:
        if "says" not in data and "calls" not in data:
            reader.err(path, "the model `says:` a line, `calls:` a tool, or both")
        return None
    return Step("model", where, says=says, calls=calls, args=args)


def _expect(reader: _Reader, path: DataPath, value: Any) -> tuple[Expectation, ...]:
    data = reader.mapping(path, value, EXPECT_KEYS, "expect")
    if data is None:
        return ()
    found: list[Expectation] = []
    for key, item in data.items():
        if key not in EXPECT_KEYS:
            continue
        kpath = (*path, key)
        checked = _expectation(reader, kpath, key, item)
        if checked is not _BAD:
            found.append(Expectation(key, checked, reader.where(kpath, key=True)))
    return tuple(found)


_BAD = object()


def _expectation(reader: _Reader, path: DataPath, key: str, value: Any) -> Any:
    if key in ("answered", "hangup"):
        flag = reader.flag(path, value, key)
        return _BAD if flag is None else flag
    if key == "rejected":
        if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 699:
            reader.err(path, "rejected must be a SIP status such as 404 or 480")
            return _BAD
        return value
    if key == "state":
        return _or_bad(reader.text(path, value, "state"))
    if key == "flow":
        text = reader.text(path, value, "flow")
        if text is None:
            return _BAD
        return re.sub(r"\.ya?ml$", "", text.strip())
    if key == "saved":
        if not isinstance(value, dict) or not value:
            reader.err(path, 'saved is a mapping of names to values (`account_number: "12345678"`)')
            return _BAD
        return dict(value)
    if key == "transfers_tried":
        items = reader.listing(path, value, "transfers_tried")
        if items is None:
            return _BAD
        targets = [reader.text((*path, i), v, "a transfer address") for i, v in enumerate(items)]
        return _BAD if any(t is None for t in targets) else tuple(targets)
    if key == "transfer":
        if value is False:
            return False
        return _or_bad(reader.text(path, value, "transfer"))
    if key in ("said", "cut_short", "told"):
        if isinstance(value, str):
            return (value,)
        items = reader.listing(path, value, key)
        if items is None:
            return _BAD
        lines = [reader.text((*path, i), v, "a line") for i, v in enumerate(items)]
        return _BAD if any(x is None for x in lines) else tuple(lines)
    if key == "transcript":
        items = reader.listing(path, value, "transcript")
        if items is None:
            return _BAD
        turns = []
        for i, item in enumerate(items):
            ipath = (*path, i)
            if not isinstance(item, dict) or len(item) != 1:
                reader.err(ipath, "each turn is `caller: …` or `agent: …`")
                return _BAD
            reader.mapping(ipath, item, TRANSCRIPT_KEYS, "a transcript turn")
            ((who, line),) = item.items()
            text = reader.text((*ipath, who), line, who)
            if text is None or who not in TRANSCRIPT_KEYS:
                return _BAD
            turns.append((who, text))
        return tuple(turns)
    if key == "requests":
        return _records(reader, path, value, REQUEST_KEYS, "a request", _request_value)
    if key == "tool_results":
        return _records(reader, path, value, TOOL_RESULT_KEYS, "a tool result", _result_value)
    return _BAD


def _or_bad(value: Any) -> Any:
    return _BAD if value is None else value


def _records(reader, path, value, keys, what, check) -> Any:
    items = reader.listing(path, value, path[-1])
    if items is None:
        return _BAD
    records = []
    for i, item in enumerate(items):
        ipath = (*path, i)
        data = reader.mapping(ipath, item, keys, what)
        if data is None:
            return _BAD
        if "tool" not in data:
            reader.err(ipath, f"{what} names its `tool:`")
            return _BAD
        record = {}
        for name, field_value in data.items():
            if name not in keys:
                return _BAD
            checked = check(reader, (*ipath, name), name, field_value)
            if checked is _BAD:
                return _BAD
            record[name] = (checked, reader.where((*ipath, name), key=True))
        records.append((record, reader.where(ipath)))
    return tuple(records)


def _request_value(reader: _Reader, path: DataPath, name: str, value: Any) -> Any:
    if name in ("tool", "url"):
        return _or_bad(reader.text(path, value, name))
    if name == "method":
        text = reader.text(path, value, name)
        if text is None:
            return _BAD
        if text.upper() not in _METHODS:
            reader.err(path, f'"{text}" is not an HTTP method: {", ".join(_METHODS)}')
            return _BAD
        return text.upper()
    if name == "headers":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            reader.err(path, "headers must be a mapping of header names to text")
            return _BAD
        return value
    return value  # body: any JSON


def _result_value(reader: _Reader, path: DataPath, name: str, value: Any) -> Any:
    if name in ("tool", "error"):
        return _or_bad(reader.text(path, value, name))
    if name == "ok":
        return _or_bad(reader.flag(path, value, name))
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        reader.err(path, "status must be an HTTP status such as 200 or 503")
        return _BAD
    return value


# -- checks against the flow ---------------------------------------------------------------------


def check_against_flow(
    result: ScenarioFile,
    doc_text: str,
    flow: Flow,
    flow_file: str,
    other_flow: Callable[[str], Flow | None] | None = None,
    flow_stems: Sequence[str] = (),
) -> None:
    """Diagnose scenarios that name a tool, state or number ``flow`` lacks.

    A scenario that expects the call to be answered by another flow (``flow: after-hours``,
    a hand-off) is checked against that flow, found with ``other_flow(stem)``; ``flow_stems``
    are the flows beside this one, for "did you mean"."""
    try:
        doc = load_source(result.path, doc_text)
    except SourceError:
        return
    reader = _Reader(doc)
    own_stem = Path(flow_file).stem
    for scenario in result.scenarios:
        reader.scenario = scenario.index
        base: DataPath = ("scenarios", scenario.index)
        _check_number(reader, base, scenario, flow, flow_file)
        answering, answering_file = flow, flow_file
        handed = _expected_flow(scenario, base)
        if handed is not None and handed[1] != own_stem:
            hpath, stem = handed
            found = other_flow(stem) if other_flow is not None else None
            if found is None:
                guess = did_you_mean(stem, flow_stems)
                reader.err(
                    hpath,
                    f'there is no flow "{stem}" beside {flow_file} (or it does not lint)',
                    f'did you mean "{guess}"?'
                    if guess
                    else ("the flows beside it: " + ", ".join(flow_stems) if flow_stems else None),
                )
                continue
            answering, answering_file = found, f"{stem}.yaml"
        _check_scenario(reader, base, result, scenario, answering, answering_file)
    reader.scenario = None
    _finish(result, reader)


def _expected_flow(scenario: Scenario, base: DataPath) -> tuple[DataPath, str] | None:
    """The last `flow:` expectation of a scenario and its path, if it has one."""
    found = None
    for number, step in enumerate(scenario.steps):
        for item in step.expect:
            if item.key == "flow":
                found = ((*base, "script", number, "expect", "flow"), item.value)
    for item in scenario.expect:
        if item.key == "flow":
            found = ((*base, "expect", "flow"), item.value)
    return found


def _check_scenario(
    reader: _Reader,
    base: DataPath,
    result: ScenarioFile,
    scenario: Scenario,
    flow: Flow,
    flow_file: str,
) -> None:
    tools = list(flow.tools)
    states = list(flow.states)
    read = _env_names(flow)
    unset = [n for n in read if n not in result.env and n not in scenario.env]
    if unset:
        names = ", ".join(unset)
        reader.err(
            (*base, "name"),
            f"{flow_file} reads env.{unset[0]}, which this scenario does not set",
            f"set {names} under `env:` (a test value, never a real secret), for the "
            "whole file or this scenario",
            key=True,
        )
    for tool in scenario.services_where:
        spath = (*base, "services", tool)
        if tool not in flow.tools:
            _unknown(reader, spath, "tool", tool, tools, flow_file, key=True)
        elif flow.tools[tool].http is None:
            reader.err(
                spath,
                f'the tool "{tool}" of {flow_file} calls no outside service (it has no '
                "`http:`), so it needs no answer here",
                key=True,
            )
    for number, step in enumerate(scenario.steps):
        spath = (*base, "script", number)
        if step.kind == "model" and step.calls is not None:
            cpath = (*spath, "model", "calls")
            if step.calls not in flow.tools:
                _unknown(reader, cpath, "tool", step.calls, tools, flow_file)
            else:
                params = list(flow.tools[step.calls].parameters)
                for arg in step.args:
                    if arg not in params:
                        guess = did_you_mean(arg, params)
                        reader.err(
                            (*spath, "model", "args", arg),
                            f'the tool "{step.calls}" of {flow_file} has no parameter "{arg}"',
                            f'did you mean "{guess}"?'
                            if guess
                            else "its parameters: " + (", ".join(params) or "none"),
                            key=True,
                        )
        if step.kind == "expect":
            _check_expect(reader, (*spath, "expect"), step.expect, tools, states, flow_file)
    _check_expect(reader, (*base, "expect"), scenario.expect, tools, states, flow_file)


_ENV_NAME = re.compile(r"""\benv\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*["']([^"']+)["']\s*\])""")


def _env_names(flow: Flow) -> list[str]:
    """The environment variables the flow's templates read, in order of first use."""
    text = json.dumps(flow.model_dump(mode="json"))
    names: list[str] = []
    for match in _ENV_NAME.finditer(text):
        name = match.group(1) or match.group(2)
        if name not in names:
            names.append(name)
    return names


def _check_number(
    reader: _Reader, base: DataPath, scenario: Scenario, flow: Flow, flow_file: str
) -> None:
    if any(e.key == "rejected" for e in scenario.expect):
        return  # a scenario about a refusal dials a number nobody answers, on purpose
    if not scenario.call.dialled or "*" in flow.numbers:
        return
    number = normalize_number(scenario.call.dialled)
    if number in flow.numbers:
        return
    guess = did_you_mean(number or scenario.call.dialled, flow.numbers)
    hint = f'did you mean "{guess}"?' if guess else "its numbers: " + ", ".join(flow.numbers)
    reader.err(
        (*base, "call", "to"),
        f'{flow_file} does not answer "{scenario.call.dialled}"',
        hint,
    )


def _check_expect(
    reader: _Reader,
    path: DataPath,
    expect: tuple[Expectation, ...],
    tools: list[str],
    states: list[str],
    flow_file: str,
) -> None:
    for item in expect:
        kpath = (*path, item.key)
        if item.key == "state":
            if not states:
                reader.err(kpath, f"{flow_file} has no states, so a call is in none")
            elif item.value not in states:
                _unknown(reader, kpath, "state", item.value, states, flow_file)
        if item.key in ("requests", "tool_results"):
            for i, (record, _) in enumerate(item.value):
                name = record["tool"][0]
                if name not in tools:
                    _unknown(reader, (*kpath, i, "tool"), "tool", name, tools, flow_file)


def _unknown(
    reader: _Reader,
    path: DataPath,
    kind: str,
    name: str,
    pool: list[str],
    flow_file: str,
    *,
    key: bool = False,
) -> None:
    guess = did_you_mean(name, pool)
    hint: str | None
    if guess:
        hint = f'did you mean "{guess}"?'
    else:
        hint = f"{flow_file} has: {', '.join(pool)}" if pool else None
    reader.err(path, f'{flow_file} has no {kind} "{name}"', hint, key=key)

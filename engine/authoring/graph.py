"""`engine graph FLOW`: a flow as a diagram, in Mermaid (GitHub and GitLab draw it) or DOT.

The diagram is built in two steps. ``build_graph`` turns a checked flow into a plain
``Graph``: nodes (the call's start, the states, transfer targets, the end) and edges, each
edge of one ``EdgeKind``. ``to_mermaid`` and ``to_dot`` only draw a ``Graph``; they know
nothing of flows. Each function of ``EDGE_SOURCES`` adds one part:

- the entry: an edge from the call to the start state; before it, when the flow has
  ``callers`` rules or ``hours``, one edge per rule and one for "closed" from "Incoming call"
  to what happens instead (rejected with a status, another flow, a line then hang up, a
  transfer), in the order they are checked;
- each state's tools, one edge per tool: ``goto`` to the target state, ``transfer`` to a node
  for the target(s), ``hangup`` to the end node, and a tool that only speaks or calls a
  service as a dotted loop back to its state (the call stays there);
- keys: ``press 1`` from the state to where the key's tool leads (a tool that stays is a
  loop labelled with its name too);
- keyed-in digits: ``collect.then`` (``keys in NAME``) and ``collect.on_timeout`` (``too few
  digits``);
- silence ladders: each step that moves the call, hangs up or runs a tool (``2nd silence``);
- transfer fallbacks: a dotted ``no answer`` edge from the transfer node to where the
  tool's ``fallback`` leads; ``limits.fallback`` and an explicit ``limits.call_minutes``;
- the flow-wide parts (``global_tools``, the flow's ``keypad`` and ``silence``) are drawn
  once, from one dashed "any state" node, not from every state, so the diagram stays
  readable; a flow with one state draws them from that state.

A flow without ``states`` is drawn as one state, "conversation", offering every tool.
A new part is one more function in ``EDGE_SOURCES`` (a function of the flow that yields nodes
and edges), with a new ``EdgeKind`` and its line style in ``_MERMAID_ARROWS`` and
``_DOT_STYLES``.

Output is deterministic: states in the file's order, each state's tools in the order the
state lists them, keys in the order they are written, transfer targets in the order the
tools are defined. An edge drawn twice (the same transfer reached from two states) is
drawn once.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..flow.lint import lint_files
from ..flow.model import Flow, Outcome, Silence
from ..flow.model import Step as StepModel

__all__ = [
    "EDGE_SOURCES",
    "Edge",
    "EdgeKind",
    "Graph",
    "GraphError",
    "Node",
    "NodeKind",
    "add_arguments",
    "build_graph",
    "diagrams_markdown",
    "load_flow",
    "render",
    "run",
    "to_dot",
    "to_mermaid",
]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
FORMATS = ("mermaid", "dot")
IMPLICIT_STATE = "conversation"


class NodeKind(StrEnum):
    START = "start"
    STATE = "state"
    ANY = "any"  # every state: where global tools, the flow's keys and silences start
    TRANSFER = "transfer"
    FLOW = "flow"  # another flow the call is handed to before it is answered
    LINE = "line"  # a line said before the call is answered the usual way
    REJECTED = "rejected"  # the call is refused with a SIP status
    END = "end"


class EdgeKind(StrEnum):
    START = "start"  # the call is answered and begins in the start state
    GOTO = "goto"  # a tool moves the call to another state
    TRANSFER = "transfer"  # a tool transfers the call (SIP REFER)
    HANGUP = "hangup"  # a tool ends the call
    STAY = "stay"  # a tool speaks or calls a service; the call stays in its state
    KEYPAD = "keypad"  # the caller presses a key
    COLLECT = "collect"  # the caller keys in digits (or stops too early)
    SILENCE = "silence"  # the caller says nothing
    FALLBACK = "fallback"  # no transfer target answered, a limit was reached
    RULE = "rule"  # before answering: a caller rule or closed hours


@dataclass(frozen=True, slots=True)
class Node:
    id: str  # safe in Mermaid and DOT: letters, digits and _
    label: str
    kind: NodeKind


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # node ids
    target: str
    label: str
    kind: EdgeKind


@dataclass(frozen=True, slots=True)
class Graph:
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


class GraphError(Exception):
    """A flow that cannot be drawn; the message says why, for a person."""


# --- from a flow to a graph -------------------------------------------------------------

START_ID, END_ID, ANY_ID = "call_start", "call_end", "any_state"
ANY_LABEL = "any state"
LABEL_CHARS = 40  # a quoted line or a list of numbers is cut here, with "…"


class _Ids:
    """Node ids for states and transfers: sanitised, prefixed, and unique."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._taken: set[str] = {START_ID, END_ID, ANY_ID}

    def __call__(self, prefix: str, name: str) -> str:
        key = (prefix, name)
        if key not in self._given:
            base = f"{prefix}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"
            candidate, n = base, 2
            while candidate in self._taken:  # `a-b` and `a_b` are different states
                candidate, n = f"{base}_{n}", n + 1
            self._taken.add(candidate)
            self._given[key] = candidate
        return self._given[key]


@dataclass(frozen=True, slots=True)
class _View:
    """What an edge source reads: the flow, its states (one implicit state for a flow
    without states), and the node id of a state, transfer or the end."""

    flow: Flow
    states: tuple[tuple[str, tuple[str, ...]], ...]  # (state, its tools)
    ids: _Ids

    def state_id(self, state: str) -> str:
        return self.ids("state", state)

    @property
    def everywhere(self) -> str:
        """Where the flow-wide parts are drawn from: the one state, or "any state"."""
        if len(self.states) == 1:
            return self.state_id(self.states[0][0])
        return ANY_ID


Part = Node | Edge
EdgeSource = Callable[[_View], Iterable[Part]]


def _cut(text: str, limit: int = LABEL_CHARS) -> str:
    """One line of at most ``limit`` characters, cut after a whole word with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_VAR = re.compile(r"\{\{-?\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")


def _with_vars(view: _View, text: str) -> str:
    """``text`` with each plain ``{{ vars.NAME }}`` replaced by its value, as a caller would
    meet it; other templates stay as written."""

    def value(match: re.Match[str]) -> str:
        found = view.flow.vars.get(match.group(1))
        return match.group(0) if found is None or isinstance(found, bool) else str(found)

    return _VAR.sub(value, text)


def _transfer_label(view: _View, targets: Sequence[str]) -> str:
    return "transfer to " + ", then ".join(_with_vars(view, t) for t in targets)


def _end() -> Iterator[Part]:
    yield Node(END_ID, "Hang up", NodeKind.END)


def _to_state(view: _View, source: str, state: str, label: str, kind: EdgeKind) -> Iterator[Part]:
    if state in view.flow.states or not view.flow.states:
        yield Edge(source, view.state_id(state), label, kind)


def _tool_effect(
    view: _View,
    source: str,
    name: str,
    label: str,
    kind: EdgeKind | None = None,
    *,
    loop: bool = True,
) -> Iterator[Part]:
    """Where running the tool ``name`` from ``source`` leads, as an edge labelled ``label``.

    ``kind`` None: the tool's own kind (a tool the model calls); else that kind for an edge
    that leaves the state, and a dotted loop labelled ``label: name`` for a tool that stays
    (none when ``loop`` is false: a transfer's fallback goes on in whichever state the
    transfer was made from, which one node cannot show).
    """
    tool = view.flow.tools.get(name)
    if tool is None:
        return  # lint's unknown-tool; a flow with errors is never drawn
    if tool.goto is not None:
        yield from _to_state(view, source, tool.goto, label, kind or EdgeKind.GOTO)
    elif tool.transfer is not None:
        target = view.ids("transfer", name)
        yield Node(target, _transfer_label(view, tool.transfer_targets), NodeKind.TRANSFER)
        yield Edge(source, target, label, kind or EdgeKind.TRANSFER)
        if tool.fallback is not None:
            yield from _step_effect(
                view, target, tool.fallback, "no answer", EdgeKind.FALLBACK, loop=False
            )
    elif tool.hangup:
        yield from _end()
        yield Edge(source, END_ID, label, kind or EdgeKind.HANGUP)
    elif loop:
        shown = label if kind is None or label == name else f"{label}: {name}"
        yield Edge(source, source, shown, EdgeKind.STAY)


def _step_effect(
    view: _View,
    source: str,
    step: StepModel,
    label: str,
    kind: EdgeKind,
    *,
    loop: bool = True,
) -> Iterator[Part]:
    """Where an engine step leads: its tool, its goto, its hangup. A step that only speaks
    leaves the call where it is and is not drawn."""
    if step.tool is not None:
        yield from _tool_effect(view, source, step.tool, label, kind, loop=loop)
    if step.goto is not None:
        yield from _to_state(view, source, step.goto, label, kind)
    if step.hangup:
        yield from _end()
        yield Edge(source, END_ID, label, kind)


def _numbers_label(numbers: Sequence[str]) -> str:
    shown = [n[:-1] + "…" if n.endswith("*") else n for n in numbers]
    text = ", ".join(shown[:2]) + (", …" if len(shown) > 2 else "")
    return _cut(text)


def _outcome(view: _View, key: str, outcome: Outcome, label: str) -> Iterator[Part]:
    """What a caller rule or closed hours does instead of the usual answer."""
    source = START_ID
    if outcome.reject is not None:
        node = view.ids("rejected", str(outcome.reject))
        yield Node(node, f"Rejected {outcome.reject}", NodeKind.REJECTED)
        yield Edge(source, node, label, EdgeKind.RULE)
        return
    if outcome.flow is not None:
        node = view.ids("flow", outcome.flow)
        yield Node(node, f"{outcome.flow} flow", NodeKind.FLOW)
        yield Edge(source, node, label, EdgeKind.RULE)
        return
    if outcome.say is not None:
        node = view.ids("line", key)
        yield Node(node, f"says “{_cut(_with_vars(view, outcome.say))}”", NodeKind.LINE)
        yield Edge(source, node, label, EdgeKind.RULE)
        source, label = node, ""
    if outcome.transfer is not None:
        node = view.ids("transfer", key)
        yield Node(node, _transfer_label(view, [outcome.transfer]), NodeKind.TRANSFER)
        yield Edge(source, node, label, EdgeKind.RULE)
    elif outcome.say is not None:
        yield from _end()
        yield Edge(source, END_ID, label, EdgeKind.RULE)


def _start_edges(view: _View) -> Iterator[Part]:
    flow = view.flow
    for number, rule in enumerate(flow.callers, 1):
        who = []
        if rule.numbers:
            who.append("caller " + _numbers_label(rule.numbers))
        if rule.anonymous:
            who.append("anonymous caller")
        yield from _outcome(view, f"caller_{number}", rule, " or ".join(who) or "caller")
    if flow.hours is not None:
        yield from _outcome(view, "closed", flow.hours.when_closed, "closed")
    start = flow.start_state or IMPLICIT_STATE
    label = "open" if flow.hours is not None else ""
    yield Edge(START_ID, view.state_id(start), label, EdgeKind.START)


def _tool_edges(view: _View) -> Iterator[Part]:
    for state, offered in view.states:
        source = view.state_id(state)
        for name in offered:
            yield from _tool_effect(view, source, name, name)
    if view.flow.states:
        for name in view.flow.global_tools:
            yield from _tool_effect(view, view.everywhere, name, name)


def _key_edges(view: _View, source: str, keypad: dict[str, str]) -> Iterator[Part]:
    for key, name in keypad.items():
        yield from _tool_effect(view, source, name, f"press {key}", EdgeKind.KEYPAD)


def _keypad_edges(view: _View) -> Iterator[Part]:
    flow = view.flow
    yield from _key_edges(view, view.everywhere, flow.keypad)
    for name, state in flow.states.items():
        yield from _key_edges(view, view.state_id(name), state.keypad)


def _collect_edges(view: _View) -> Iterator[Part]:
    for name, state in view.flow.states.items():
        collect = state.collect
        if collect is None:
            continue
        source = view.state_id(name)
        if collect.then is not None:
            label = f"keys in {collect.save_as}"
            yield from _tool_effect(view, source, collect.then, label, EdgeKind.COLLECT)
        if collect.on_timeout is not None:
            step = collect.on_timeout
            yield from _step_effect(view, source, step, "too few digits", EdgeKind.COLLECT)


def _ladder(view: _View, source: str, silence: Silence) -> Iterator[Part]:
    for number, step in enumerate(silence.steps, 1):
        yield from _step_effect(view, source, step, f"{_ordinal(number)} silence", EdgeKind.SILENCE)


def _silence_edges(view: _View) -> Iterator[Part]:
    # The ladders written in the file; the default one only ends the call, as the time
    # limit does, and is drawn no more than it is.
    for state, ladder in view.flow.written_silences():
        source = view.everywhere if state is None else view.state_id(state)
        yield from _ladder(view, source, ladder)


def _limit_edges(view: _View) -> Iterator[Part]:
    limits = view.flow.limits
    if "limits" not in view.flow.model_fields_set:
        return
    if limits.fallback is not None:
        yield from _step_effect(
            view, view.everywhere, limits.fallback, "tool limit", EdgeKind.FALLBACK
        )
    if "call_minutes" in limits.model_fields_set:
        yield from _end()
        label = f"after {limits.call_minutes:g} min"
        yield Edge(view.everywhere, END_ID, label, EdgeKind.FALLBACK)


# Each function adds its part of the diagram, in this order.
EDGE_SOURCES: tuple[EdgeSource, ...] = (
    _start_edges,
    _tool_edges,
    _keypad_edges,
    _collect_edges,
    _silence_edges,
    _limit_edges,
)


def build_graph(flow: Flow, sources: Sequence[EdgeSource] = EDGE_SOURCES) -> Graph:
    """The diagram of a flow that lints without errors."""
    if flow.states:
        states = tuple((name, tuple(state.tools)) for name, state in flow.states.items())
    else:
        states = ((IMPLICIT_STATE, tuple(flow.tools)),)
    view = _View(flow, states, _Ids())
    entry = "Incoming call" if flow.callers or flow.hours is not None else "Call answered"
    nodes: dict[str, Node] = {START_ID: Node(START_ID, entry, NodeKind.START)}
    for state, _ in states:
        node_id = view.state_id(state)
        nodes[node_id] = Node(node_id, state, NodeKind.STATE)
    edges: dict[Edge, None] = {}  # in order, each once
    extra: list[Node] = []
    for source in sources:
        for part in source(view):
            if isinstance(part, Edge):
                edges.setdefault(part)
            elif part.id not in nodes and all(n.id != part.id for n in extra):
                extra.append(part)
    if any(ANY_ID in (e.source, e.target) for e in edges):
        extra.append(Node(ANY_ID, ANY_LABEL, NodeKind.ANY))
    # What happens before the answer first, then "any state", transfers, the end last: the
    # reader's eye follows the call downwards.
    order = {
        NodeKind.REJECTED: -3,
        NodeKind.FLOW: -2,
        NodeKind.LINE: -1,
        NodeKind.ANY: 0,
        NodeKind.TRANSFER: 1,
        NodeKind.END: 2,
    }
    before = sorted((n for n in extra if order[n.kind] < 0), key=lambda n: order[n.kind])
    after = sorted((n for n in extra if order[n.kind] >= 0), key=lambda n: order[n.kind])
    first = nodes.pop(START_ID)
    ordered = (first, *before, *nodes.values(), *after)
    return Graph(flow.name, ordered, tuple(edges))


# --- Mermaid ----------------------------------------------------------------------------

_MERMAID_SHAPES = {
    NodeKind.START: ('(["', '"])'),
    NodeKind.STATE: ('["', '"]'),
    NodeKind.ANY: ('["', '"]'),
    NodeKind.TRANSFER: ('[/"', '"/]'),
    NodeKind.FLOW: ('[["', '"]]'),
    NodeKind.LINE: ('>"', '"]'),
    NodeKind.REJECTED: ('(["', '"])'),
    NodeKind.END: ('(["', '"])'),
}
_MERMAID_ARROWS = {
    EdgeKind.START: "==>",
    EdgeKind.GOTO: "-->",
    EdgeKind.TRANSFER: "-->",
    EdgeKind.HANGUP: "-->",
    EdgeKind.STAY: "-.->",
    EdgeKind.KEYPAD: "-->",
    EdgeKind.COLLECT: "-->",
    EdgeKind.SILENCE: "-.->",
    EdgeKind.FALLBACK: "-.->",
    EdgeKind.RULE: "-->",
}
_MERMAID_CLASSES = {
    NodeKind.START: "fill:#e8f5e9,stroke:#2e7d32",
    NodeKind.ANY: "fill:#ffffff,stroke:#757575,stroke-dasharray:5 5",
    NodeKind.TRANSFER: "fill:#e3f2fd,stroke:#1565c0",
    NodeKind.FLOW: "fill:#fff8e1,stroke:#f9a825",
    NodeKind.LINE: "fill:#fff8e1,stroke:#f9a825",
    NodeKind.REJECTED: "fill:#ffebee,stroke:#c62828",
    NodeKind.END: "fill:#ffebee,stroke:#c62828",
}


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: entity codes for what Mermaid would read."""
    text = " ".join(text.split())  # a label is one line
    text = text.replace("#", "#35;")  # first: the entities below start with #
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;")):
        text = text.replace(char, code)
    return text


def to_mermaid(graph: Graph) -> str:
    """A Mermaid ``flowchart TD``, as GitHub and GitLab render it in a ```mermaid block."""
    lines = ["flowchart TD"]
    for node in graph.nodes:
        opening, closing = _MERMAID_SHAPES[node.kind]
        lines.append(f"    {node.id}{opening}{_mermaid_text(node.label)}{closing}")
    for edge in graph.edges:
        arrow = _MERMAID_ARROWS[edge.kind]
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {edge.source} {arrow}{label} {edge.target}")
    for kind, style in _MERMAID_CLASSES.items():
        members = [n.id for n in graph.nodes if n.kind is kind]
        if members:
            name = f"{kind.value}Node"  # not `end`: a Mermaid keyword
            lines.append(f"    classDef {name} {style}")
            lines.append(f"    class {','.join(members)} {name}")
    return "\n".join(lines) + "\n"


# --- DOT (Graphviz) ---------------------------------------------------------------------

_DOT_SHAPES = {
    NodeKind.START: 'shape=oval, style=filled, fillcolor="#e8f5e9"',
    NodeKind.STATE: "shape=box, style=rounded",
    NodeKind.ANY: 'shape=box, style="rounded,dashed"',
    NodeKind.TRANSFER: 'shape=parallelogram, style=filled, fillcolor="#e3f2fd"',
    NodeKind.FLOW: 'shape=component, style=filled, fillcolor="#fff8e1"',
    NodeKind.LINE: 'shape=note, style=filled, fillcolor="#fff8e1"',
    NodeKind.REJECTED: 'shape=oval, style=filled, fillcolor="#ffebee"',
    NodeKind.END: 'shape=oval, style=filled, fillcolor="#ffebee"',
}
_DOT_STYLES = {
    EdgeKind.START: "penwidth=2",
    EdgeKind.GOTO: "",
    EdgeKind.TRANSFER: "",
    EdgeKind.HANGUP: "",
    EdgeKind.STAY: "style=dashed",
    EdgeKind.KEYPAD: 'color="#1565c0"',
    EdgeKind.COLLECT: 'color="#1565c0"',
    EdgeKind.SILENCE: "style=dotted",
    EdgeKind.FALLBACK: 'style=dashed, color="#c62828"',
    EdgeKind.RULE: "",
}


def _dot_string(text: str) -> str:
    text = " ".join(text.split())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    """A Graphviz ``digraph`` with the same nodes and edges as the Mermaid diagram."""
    lines = [
        "digraph flow {",
        f"    label={_dot_string(graph.name)};",
        "    labelloc=t;",
        "    rankdir=TB;",
    ]
    for node in graph.nodes:
        attrs = f"label={_dot_string(node.label)}, {_DOT_SHAPES[node.kind]}"
        lines.append(f"    {node.id} [{attrs}];")
    for edge in graph.edges:
        edge_attrs = [f"label={_dot_string(edge.label)}"] if edge.label else []
        if _DOT_STYLES[edge.kind]:
            edge_attrs.append(_DOT_STYLES[edge.kind])
        suffix = f" [{', '.join(edge_attrs)}]" if edge_attrs else ""
        lines.append(f"    {edge.source} -> {edge.target}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(flow: Flow, fmt: str = "mermaid") -> str:
    graph = build_graph(flow)
    return to_dot(graph) if fmt == "dot" else to_mermaid(graph)


# --- reading the flow -------------------------------------------------------------------


def load_flow(path: Path) -> Flow:
    """The flow in ``path`` if it lints without errors (warnings are fine), else GraphError."""
    report = lint_files([path])
    result = report.files[0]
    if result.ok and result.flow is not None:
        return result.flow
    errors = sum(1 for d in result.diagnostics if d.is_error) or 1
    noun = "error" if errors == 1 else "errors"
    raise GraphError(
        f"{path} has {errors} {noun}, so it cannot be drawn; "
        f"run `engine lint {path}` to see where, fix them, then draw it again"
    )


def diagrams_markdown(paths: Iterable[Path], *, shown_as: Callable[[Path], str] = str) -> str:
    """The Markdown page of ``docs/diagrams.md``: each flow's Mermaid diagram under a heading."""
    parts = [
        "# The example flows, drawn",
        "",
        "<!-- Generated by tests/authoring/test_graph.py from flows/*.yaml; do not edit. -->",
        "<!-- Rewrite: UPDATE_GOLDEN=1 python -m pytest tests/authoring/test_graph.py -->",
        "",
        "`engine graph FLOW` prints these diagrams. GitHub and GitLab draw a ```` ```mermaid ````",
        "block in any Markdown file; `engine graph --format dot FLOW` gives Graphviz input.",
        "",
        "Boxes are states, the thick arrow is where a call starts, each other arrow is a tool:",
        "to another state (`goto`), to a transfer target (`transfer`), to *Hang up*",
        "(`hangup`), or a dotted loop for a tool that speaks or calls a service and leaves the",
        "call where it is.",
        "",
        "What the caller does and what the engine does by itself are arrows too:",
        "",
        "- `press 1`: a key of the `keypad` and where its tool leads (`press 2: repeat_menu`",
        "  for a tool that leaves the call where it is);",
        "- `keys in account_number`: the digits of `collect` are in and its `then` tool runs;",
        "  `too few digits`: its `on_timeout` step;",
        "- `2nd silence` (dotted): a step of a `silence` ladder that moves the call, runs a",
        "  tool or hangs up (steps that only speak are not drawn; nor is the default ladder of",
        "  a flow that writes none, which hangs up on the 2nd silence in every state);",
        "- `no answer` (dashed), from a transfer: where the tool's `fallback` leads once every",
        "  target has failed; `tool limit` and `after 20 min`: the flow's `limits`.",
        "",
        "The parts that apply in every state (`global_tools`, the flow's own `keypad` and",
        "`silence`, `limits`) are drawn once, from the dashed *any state* box; a state's own",
        "`keypad` or `silence` is drawn from that state.",
        "",
        "When a flow has `callers` rules or `hours`, the call starts at *Incoming call*: one",
        "arrow per rule, in the order they are checked (`caller +1900…`, `anonymous caller`),",
        "then `closed`, to what happens instead (*Rejected 603*, another flow, a line then",
        "*Hang up*, a transfer); `open` leads to the start state.",
    ]
    for path in sorted(paths, key=lambda p: p.name):
        flow = load_flow(path)
        parts += ["", f"## {flow.name}", "", f"`{shown_as(path)}`", "", "```mermaid"]
        parts.append(render(flow, "mermaid").rstrip("\n"))
        parts.append("```")
    return "\n".join(parts) + "\n"


# --- the command ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("flow", metavar="FLOW", help="the flow file to draw")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="mermaid",
        help="mermaid (default; GitHub and GitLab draw it in Markdown) or dot (Graphviz)",
    )


def run(args: argparse.Namespace) -> int:
    path = Path(args.flow)
    if path.is_dir():
        print(f"engine graph: {path} is a folder; name one flow file", file=sys.stderr)
        return EXIT_USAGE
    if not path.is_file():
        print(f"engine graph: {path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    try:
        flow = load_flow(path)
    except GraphError as exc:
        print(f"engine graph: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    sys.stdout.write(render(flow, args.format))
    return EXIT_OK

"""`engine graph FLOW`: a flow as a diagram, in Mermaid (GitHub and GitLab draw it) or DOT.

The diagram is built in two steps. ``build_graph`` turns a checked flow into a plain
``Graph``: nodes (the call's start, the states, transfer targets, the end) and edges, each
edge of one ``EdgeKind``. ``to_mermaid`` and ``to_dot`` only draw a ``Graph``; they know
nothing of flows. What exists today:

- the start: an edge from "Call answered" to the start state;
- each state's tools, one edge per tool: ``goto`` to the target state, ``transfer`` to a node
  for the target, ``hangup`` to the end node, and a tool that only speaks or calls a service
  as a dotted loop back to its state (the call stays there);
- a flow without ``states`` is drawn as one state, "conversation", offering every tool.

Keypad edges, silence ladders and the closed-hours path (issue #4) slot in as one more
function in ``EDGE_SOURCES`` each (a function of the flow that yields nodes and edges), with
a new ``EdgeKind`` and its line style in ``_MERMAID_ARROWS`` and ``_DOT_STYLES``.

Output is deterministic: states in the file's order, each state's tools in the order the
state lists them, transfer targets in the order the tools are defined.
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
from ..flow.model import Flow

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
    TRANSFER = "transfer"
    END = "end"


class EdgeKind(StrEnum):
    START = "start"  # the call is answered and begins in the start state
    GOTO = "goto"  # a tool moves the call to another state
    TRANSFER = "transfer"  # a tool transfers the call (SIP REFER)
    HANGUP = "hangup"  # a tool ends the call
    STAY = "stay"  # a tool speaks or calls a service; the call stays in its state


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

START_ID, END_ID = "call_start", "call_end"


class _Ids:
    """Node ids for states and transfers: sanitised, prefixed, and unique."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._taken: set[str] = {START_ID, END_ID}

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


Part = Node | Edge
EdgeSource = Callable[[_View], Iterable[Part]]


def _start_edges(view: _View) -> Iterator[Part]:
    start = view.flow.start_state or IMPLICIT_STATE
    yield Edge(START_ID, view.state_id(start), "", EdgeKind.START)


def _tool_edges(view: _View) -> Iterator[Part]:
    tools = view.flow.tools
    for state, offered in view.states:
        source = view.state_id(state)
        for name in offered:
            tool = tools.get(name)
            if tool is None:
                continue  # lint's unknown-tool; a flow with errors is never drawn
            if tool.goto is not None:
                yield Edge(source, view.state_id(tool.goto), name, EdgeKind.GOTO)
            elif tool.transfer is not None:
                target = view.ids("transfer", name)
                yield Node(target, f"transfer to {tool.transfer}", NodeKind.TRANSFER)
                yield Edge(source, target, name, EdgeKind.TRANSFER)
            elif tool.hangup:
                yield Node(END_ID, "Hang up", NodeKind.END)
                yield Edge(source, END_ID, name, EdgeKind.HANGUP)
            else:
                yield Edge(source, source, name, EdgeKind.STAY)


# Each function adds its part of the diagram. Issue #4's keypad edges, silence ladders and
# closed-hours path are each one more function here.
EDGE_SOURCES: tuple[EdgeSource, ...] = (_start_edges, _tool_edges)


def build_graph(flow: Flow, sources: Sequence[EdgeSource] = EDGE_SOURCES) -> Graph:
    """The diagram of a flow that lints without errors."""
    if flow.states:
        states = tuple((name, tuple(state.tools)) for name, state in flow.states.items())
    else:
        states = ((IMPLICIT_STATE, tuple(flow.tools)),)
    view = _View(flow, states, _Ids())
    nodes: dict[str, Node] = {START_ID: Node(START_ID, "Call answered", NodeKind.START)}
    for state, _ in states:
        node_id = view.state_id(state)
        nodes[node_id] = Node(node_id, state, NodeKind.STATE)
    edges: list[Edge] = []
    extra: list[Node] = []
    for source in sources:
        for part in source(view):
            if isinstance(part, Edge):
                edges.append(part)
            elif part.id not in nodes and all(n.id != part.id for n in extra):
                extra.append(part)
    # Transfers after the states, the end last: the reader's eye follows the call downwards.
    order = {NodeKind.TRANSFER: 0, NodeKind.END: 1}
    extra.sort(key=lambda n: order.get(n.kind, 0))
    ordered = (*nodes.values(), *extra)
    return Graph(flow.name, ordered, tuple(edges))


# --- Mermaid ----------------------------------------------------------------------------

_MERMAID_SHAPES = {
    NodeKind.START: ('(["', '"])'),
    NodeKind.STATE: ('["', '"]'),
    NodeKind.TRANSFER: ('[/"', '"/]'),
    NodeKind.END: ('(["', '"])'),
}
_MERMAID_ARROWS = {
    EdgeKind.START: "==>",
    EdgeKind.GOTO: "-->",
    EdgeKind.TRANSFER: "-->",
    EdgeKind.HANGUP: "-->",
    EdgeKind.STAY: "-.->",
}
_MERMAID_CLASSES = {
    NodeKind.START: "fill:#e8f5e9,stroke:#2e7d32",
    NodeKind.TRANSFER: "fill:#e3f2fd,stroke:#1565c0",
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
    NodeKind.TRANSFER: 'shape=parallelogram, style=filled, fillcolor="#e3f2fd"',
    NodeKind.END: 'shape=oval, style=filled, fillcolor="#ffebee"',
}
_DOT_STYLES = {
    EdgeKind.START: "penwidth=2",
    EdgeKind.GOTO: "",
    EdgeKind.TRANSFER: "",
    EdgeKind.HANGUP: "",
    EdgeKind.STAY: "style=dashed",
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
        attrs = [f"label={_dot_string(edge.label)}"] if edge.label else []
        if _DOT_STYLES[edge.kind]:
            attrs.append(_DOT_STYLES[edge.kind])
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
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

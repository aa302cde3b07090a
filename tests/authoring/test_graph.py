"""`engine graph`: the example flows drawn, Mermaid kept in docs/diagrams.md, DOT alike."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from engine.authoring import graph
from engine.flow.lint import collect_files
from engine.flow.model import Flow
from engine.flow.source import load_source

ROOT = Path(__file__).resolve().parents[2]
DIAGRAMS = ROOT / "docs" / "diagrams.md"
EXAMPLES, _ = collect_files([ROOT / "flows"])


def run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="engine graph")
    graph.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = graph.run(parser.parse_args(list(argv)))
    return code, out.getvalue(), err.getvalue()


def _mermaid(text: str) -> str:
    return graph._mermaid_text(text)


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_docs_diagrams_md_is_up_to_date() -> None:
    expected = graph.diagrams_markdown(EXAMPLES, shown_as=_shown)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        DIAGRAMS.write_text(expected, encoding="utf-8")
    assert DIAGRAMS.read_text(encoding="utf-8") == expected, (
        "docs/diagrams.md is stale: UPDATE_GOLDEN=1 python -m pytest tests/authoring/test_graph.py"
    )


def test_every_example_flow_is_in_docs_diagrams_md() -> None:
    text = DIAGRAMS.read_text(encoding="utf-8")
    assert len(EXAMPLES) >= 3
    assert text.count("\n```mermaid\n") == len(EXAMPLES)
    for path in EXAMPLES:
        flow = graph.load_flow(path)
        assert f"## {flow.name}" in text


def _offered(flow: Flow) -> set[str]:
    """The tools the model is offered somewhere (each is an edge labelled with its name)."""
    if not flow.states:
        return set(flow.tools)
    return {t for s in flow.states.values() for t in s.tools} | set(flow.global_tools)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_mermaid_draws_every_state_tool_and_key(path: Path) -> None:
    code, out, err = run(str(path))
    assert (code, err) == (0, "")
    assert out.startswith("flowchart TD\n")
    assert out == graph.render(graph.load_flow(path), "mermaid")
    flow = graph.load_flow(path)
    states = list(flow.states) or [graph.IMPLICIT_STATE]
    for state in states:
        assert f'["{state}"]' in out
    for name in _offered(flow):
        assert f'|"{name}"|' in out
    keys = set(flow.keypad) | {k for s in flow.states.values() for k in s.keypad}
    for key in keys:
        assert f'|"press {_mermaid(key)}' in out


DOT_NODE = re.compile(
    r"^    (?P<id>[A-Za-z_][A-Za-z0-9_]*) \[label=\"(?P<label>(?:[^\"\\]|\\.)*)\""
)
DOT_EDGE = re.compile(
    r"^    (?P<src>[A-Za-z_][A-Za-z0-9_]*) -> (?P<dst>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?: \[label=\"(?P<label>(?:[^\"\\]|\\.)*)\"[^\]]*\]| \[[^\]]*\])?;$"
)


def _parse_dot(text: str) -> tuple[dict[str, str], list[tuple[str, str, str | None]]]:
    lines = text.splitlines()
    assert lines[0] == "digraph flow {" and lines[-1] == "}"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str | None]] = []
    for line in lines[1:-1]:
        if node := DOT_NODE.match(line):
            nodes[node["id"]] = node["label"]
        elif edge := DOT_EDGE.match(line):
            edges.append((edge["src"], edge["dst"], edge["label"]))
        else:
            assert re.match(r"^    \w+=(\"(?:[^\"\\]|\\.)*\"|\w+);$", line), line
    return nodes, edges


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_dot_has_every_state_and_goto_transfer_hangup_tool(path: Path) -> None:
    code, out, err = run(str(path), "--format", "dot")
    assert (code, err) == (0, "")
    nodes, edges = _parse_dot(out)
    for src, dst, _ in edges:
        assert src in nodes and dst in nodes
    flow = graph.load_flow(path)
    by_label = {label: node_id for node_id, label in nodes.items()}
    for state in list(flow.states) or [graph.IMPLICIT_STATE]:
        assert state in by_label
    start = by_label[flow.start_state or graph.IMPLICIT_STATE]
    assert (graph.START_ID, start, "open" if flow.hours else None) in edges
    labelled = {label: (src, dst) for src, dst, label in edges if label}
    for name in _offered(flow):
        tool = flow.tools[name]
        assert name in labelled, name
        _, dst = labelled[name]
        if tool.goto:
            assert nodes[dst] == tool.goto
        elif tool.transfer:
            assert nodes[dst].startswith("transfer to ")
            assert nodes[dst].count(", then ") == len(tool.transfer_targets) - 1
        elif tool.hangup:
            assert dst == graph.END_ID


def test_mermaid_and_dot_hold_the_same_edges() -> None:
    flow = graph.load_flow(ROOT / "flows" / "acme-support.yaml")
    built = graph.build_graph(flow)
    _, dot_edges = _parse_dot(graph.to_dot(built))
    mermaid = graph.to_mermaid(built)
    arrows = re.findall(r"^    \w+ (?:-->|==>|-\.->)", mermaid, flags=re.M)
    assert len(dot_edges) == len(built.edges) == len(arrows) > 0
    assert graph.to_mermaid(built) == graph.to_mermaid(graph.build_graph(flow))  # stable


TRICKY = """\
name: 'Tricky "quoted" <b>#1</b>'
numbers: ["+18005551212"]
instructions: Hi.
start: a-b
states:
  a-b:
    tools: [to_a_b, x-y, bye]
  a_b:
    tools: [bye]
tools:
  to_a_b:
    description: Go.
    goto: a_b
  x-y:
    description: Transfer.
    transfer: 'sip:{{ "desk" }}@pbx.example.com'
  bye:
    description: End the call.
    hangup: true
"""


def test_names_with_dashes_and_quotes_are_made_safe(tmp_path: Path) -> None:
    path = tmp_path / "tricky.yaml"
    path.write_text(TRICKY, encoding="utf-8")
    code, out, _ = run(str(path))
    assert code == 0
    ids = re.findall(r"^    (\w+)[\[(]", out, flags=re.M)
    assert len(ids) == len(set(ids))  # `a-b` and `a_b` are two nodes
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", node_id) for node_id in ids)
    assert '["a-b"]' in out and '["a_b"]' in out
    assert "#quot;desk#quot;" in out
    for line in out.splitlines()[1:]:
        assert line.count('"') % 2 == 0, line  # every label's quotes are balanced
    code, dot, _ = run(str(path), "--format", "dot")
    assert code == 0
    assert '\\"desk\\"' in dot
    _parse_dot(dot)


def test_a_flow_without_states_is_one_state(tmp_path: Path) -> None:
    code, out, _ = run(str(ROOT / "flows" / "catch-all.yaml"))
    assert code == 0
    assert 'state_conversation["conversation"]' in out
    assert "call_start ==> state_conversation" in out
    assert 'state_conversation -->|"end_call"| call_end' in out


def test_a_tool_that_stays_is_a_dotted_loop() -> None:
    code, out, _ = run(str(ROOT / "flows" / "acme-support.yaml"))
    assert code == 0
    assert 'state_triage -.->|"lookup_order"| state_triage' in out


def test_a_flow_with_errors_is_not_drawn_and_points_at_lint(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(TRICKY.replace("goto: a_b", "goto: nowhere"), encoding="utf-8")
    code, out, err = run(str(path))
    assert code == 1 and out == ""
    assert f"engine lint {path}" in err and "1 error" in err


def test_a_missing_file_or_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err
    code, _, err = run(str(tmp_path))
    assert code == 2 and "folder" in err


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(SystemExit) as exit_, contextlib.redirect_stderr(io.StringIO()):
        run(str(ROOT / "flows" / "catch-all.yaml"), "--format", "png")
    assert exit_.value.code == 2


def test_more_edge_sources_slot_in() -> None:
    """How issue #4's keypad edges, silence ladders and closed hours will join the diagram."""
    flow = graph.load_flow(ROOT / "flows" / "catch-all.yaml")

    def keypad(view):  # type: ignore[no-untyped-def]
        yield graph.Edge(view.state_id("conversation"), graph.END_ID, "press 9", "goto")

    built = graph.build_graph(flow, (*graph.EDGE_SOURCES, keypad))
    assert built.edges[-1].label == "press 9"
    assert '|"press 9"| call_end' in graph.to_mermaid(built)


# -- issue #4: keys, keyed-in digits, silences, transfer fallbacks, rules before answering ----


def draw(text: str) -> graph.Graph:
    """The graph of a flow written inline (read as a flow file is; the model checks it)."""
    doc = load_source("inline.yaml", text)
    return graph.build_graph(Flow.model_validate(doc.data))


def edges_of(built: graph.Graph) -> set[tuple[str, str, str, str]]:
    """(source label, target label, edge label, kind) for every edge."""
    label = {n.id: n.label for n in built.nodes}
    return {(label[e.source], label[e.target], e.label, e.kind.value) for e in built.edges}


IVR = """\
name: IVR
numbers: ["+18005550120"]
instructions: Help.
vars: {desk: "+15551240000", spare: "+15551240001"}
start: menu
states:
  menu:
    tools: [balances]
    keypad: {"1": balances, "2": repeat, "0": to_person}
  balances:
    collect:
      save_as: account_number
      digits: 8
      then: check_balance
      on_timeout: {say: Sorry., goto: menu}
    silence:
      steps:
        - say: Key in your account number.
        - instructions: Offer a person.
          tool: to_person
        - say: Goodbye.
          hangup: true
  account:
    tools: [main_menu]
global_tools: [to_person, goodbye]
keypad: {"*": main_menu}
silence:
  steps:
    - say: Are you still there?
    - say: Goodbye.
      hangup: true
tools:
  balances: {description: Balances., goto: balances}
  main_menu: {description: Menu., goto: menu}
  repeat: {description: Say the menu again., say: "For balances, press 1."}
  check_balance:
    description: Look it up.
    http: {url: "https://bank.example/{{ saved.account_number }}"}
    goto: account
  to_person:
    description: A person.
    transfer: ["{{ vars.desk }}", "{{ vars.spare }}"]
    fallback: {say: Nobody is free., goto: menu}
  goodbye: {description: Bye., say: Bye., hangup: true}
"""


def test_keys_are_edges_labelled_press() -> None:
    found = edges_of(draw(IVR))
    assert ("menu", "balances", "press 1", "keypad") in found
    assert ("menu", "transfer to +15551240000, then +15551240001", "press 0", "keypad") in found
    # A key whose tool stays is a loop that names the tool.
    assert ("menu", "menu", "press 2: repeat", "stay") in found
    # The flow's keys apply in every state: drawn once, from "any state".
    assert ("any state", "menu", "press *", "keypad") in found
    assert not any(label == "press *" and src != "any state" for src, _, label, _ in found)


def test_keyed_in_digits_lead_to_then_and_on_timeout() -> None:
    found = edges_of(draw(IVR))
    assert ("balances", "account", "keys in account_number", "collect") in found
    assert ("balances", "menu", "too few digits", "collect") in found


def test_silence_steps_that_act_are_drawn_and_lines_alone_are_not() -> None:
    found = edges_of(draw(IVR))
    silences = {(s, t, label) for s, t, label, kind in found if kind == "silence"}
    assert silences == {
        ("balances", "transfer to +15551240000, then +15551240001", "2nd silence"),
        ("balances", "Hang up", "3rd silence"),
        ("any state", "Hang up", "2nd silence"),
    }


def test_transfer_list_and_fallback() -> None:
    built = draw(IVR)
    found = edges_of(built)
    assert (
        "transfer to +15551240000, then +15551240001",
        "menu",
        "no answer",
        "fallback",
    ) in found
    # The transfer is reached from four places but its node and fallback edge are drawn once.
    transfers = [n for n in built.nodes if n.kind is graph.NodeKind.TRANSFER]
    assert len(transfers) == 1
    assert sum(1 for e in built.edges if e.label == "no answer") == 1
    mermaid = graph.to_mermaid(built)
    assert f'{transfers[0].id} -.->|"no answer"| state_menu' in mermaid
    assert f'{transfers[0].id} -> state_menu [label="no answer", style=dashed' in graph.to_dot(
        built
    )


def test_global_tools_are_drawn_once_from_any_state() -> None:
    built = draw(IVR)
    found = edges_of(built)
    assert [e for e in found if e[2] == "goodbye"] == [
        ("any state", "Hang up", "goodbye", "hangup")
    ]
    assert (
        "any state",
        "transfer to +15551240000, then +15551240001",
        "to_person",
        "transfer",
    ) in found
    anys = [n for n in built.nodes if n.kind is graph.NodeKind.ANY]
    assert [n.label for n in anys] == ["any state"]
    mermaid = graph.to_mermaid(built)
    assert 'any_state["any state"]' in mermaid
    assert "stroke-dasharray" in mermaid
    assert 'any_state [label="any state", shape=box, style="rounded,dashed"]' in graph.to_dot(built)


def test_a_flow_without_flow_wide_parts_has_no_any_state_node() -> None:
    flow = graph.load_flow(ROOT / "flows" / "receptionist.yaml")
    assert all(n.kind is not graph.NodeKind.ANY for n in graph.build_graph(flow).nodes)


def test_a_one_state_flow_draws_flow_wide_parts_from_that_state() -> None:
    found = edges_of(
        draw(
            """\
name: One
numbers: ["+18005550120"]
instructions: Help.
keypad: {"0": bye}
silence: {steps: [{say: Hello?}, {say: Bye., hangup: true}]}
tools:
  bye: {description: Bye., hangup: true}
"""
        )
    )
    assert ("conversation", "Hang up", "press 0", "keypad") in found
    assert ("conversation", "Hang up", "2nd silence", "silence") in found
    assert not any("any state" in e[:2] for e in found)


RULES = """\
name: Rules
numbers: ["+18005551212"]
instructions: Help.
vars: {night_line: "+18005550000"}
callers:
  - numbers: ["+15550001999", "+1900*"]
    reject: 603
  - anonymous: true
    say: We cannot take calls from withheld numbers. Goodbye.
  - numbers: ["+14155550180", "+14155550181", "+14155550182"]
    flow: priority
  - numbers: ["+14155550190"]
    say: Putting you through.
    transfer: "{{ vars.night_line }}"
hours:
  open: {mon-fri: "08:00-20:00"}
  when_closed: {flow: after-hours}
tools:
  bye: {description: Bye., hangup: true}
"""


def test_rules_before_the_answer_come_first_in_their_order() -> None:
    built = draw(RULES)
    assert built.nodes[0] == graph.Node(graph.START_ID, "Incoming call", graph.NodeKind.START)
    rules = [(e.label, e.target) for e in built.edges if e.source == graph.START_ID]
    label = {n.id: n.label for n in built.nodes}
    assert [(text, label[target]) for text, target in rules] == [
        ("caller +15550001999, +1900…", "Rejected 603"),
        ("anonymous caller", "says “We cannot take calls from withheld…”"),
        ("caller +14155550180, +14155550181, …", "priority flow"),
        ("caller +14155550190", "says “Putting you through.”"),
        ("closed", "after-hours flow"),
        ("open", "conversation"),
    ]
    found = edges_of(built)
    assert ("says “We cannot take calls from withheld…”", "Hang up", "", "rule") in found
    assert ("says “Putting you through.”", "transfer to +18005550000", "", "rule") in found
    mermaid = graph.to_mermaid(built)
    assert 'call_start(["Incoming call"])' in mermaid
    assert 'flow_after_hours[["after-hours flow"]]' in mermaid
    assert 'rejected_603(["Rejected 603"])' in mermaid
    assert 'call_start ==>|"open"| state_conversation' in mermaid
    # What happens before the answer is drawn above the states.
    ids = [n.id for n in built.nodes]
    assert ids.index("rejected_603") < ids.index("state_conversation")


def test_a_flow_without_rules_is_still_answered_without_a_label() -> None:
    built = draw(IVR)
    assert built.nodes[0].label == "Call answered"
    assert (graph.START_ID, "state_menu", "", graph.EdgeKind.START) in {
        (e.source, e.target, e.label, e.kind) for e in built.edges
    }


def test_limits_set_in_the_file_are_drawn() -> None:
    found = edges_of(
        draw(
            IVR
            + """\
limits:
  call_minutes: 20
  fallback: {say: Our systems are down., tool: to_person}
"""
        )
    )
    assert ("any state", "Hang up", "after 20 min", "fallback") in found
    assert (
        "any state",
        "transfer to +15551240000, then +15551240001",
        "tool limit",
        "fallback",
    ) in found
    assert not any(label.startswith("after ") for _, _, label, _ in edges_of(draw(IVR)))


def test_every_new_edge_kind_has_a_mermaid_and_dot_style() -> None:
    assert set(graph._MERMAID_ARROWS) == set(graph.EdgeKind) == set(graph._DOT_STYLES)
    assert set(graph._MERMAID_SHAPES) == set(graph.NodeKind) == set(graph._DOT_SHAPES)
    for text in (IVR, RULES):
        built = draw(text)
        _, dot_edges = _parse_dot(graph.to_dot(built))
        arrows = re.findall(r"^    \w+ (?:-->|==>|-\.->)", graph.to_mermaid(built), flags=re.M)
        assert len(dot_edges) == len(built.edges) == len(arrows)


def test_a_quoted_line_in_a_rule_is_made_safe() -> None:
    built = draw(RULES.replace("We cannot take", 'We "cannot" <take>'))
    mermaid = graph.to_mermaid(built)
    assert "#quot;cannot#quot; #lt;take#gt;" in mermaid
    for line in mermaid.splitlines()[1:]:
        assert line.count('"') % 2 == 0, line
    _parse_dot(graph.to_dot(built))

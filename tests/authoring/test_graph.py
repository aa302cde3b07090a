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


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_mermaid_draws_every_state_and_tool(path: Path) -> None:
    code, out, err = run(str(path))
    assert (code, err) == (0, "")
    assert out.startswith("flowchart TD\n")
    assert out == graph.render(graph.load_flow(path), "mermaid")
    flow = graph.load_flow(path)
    states = list(flow.states) or [graph.IMPLICIT_STATE]
    for state in states:
        assert f'["{state}"]' in out
    for name in flow.tools:
        assert f'|"{name}"|' in out


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
    assert (graph.START_ID, start, None) in edges
    labelled = {label: (src, dst) for src, dst, label in edges if label}
    for name, tool in flow.tools.items():
        assert name in labelled, name
        _, dst = labelled[name]
        if tool.goto:
            assert nodes[dst] == tool.goto
        elif tool.transfer:
            assert nodes[dst] == f"transfer to {tool.transfer}".replace('"', '\\"')
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

"""`format_github`: GitHub Actions workflow commands, escaped by GitHub's own rules."""

from __future__ import annotations

import re

from engine.flow.diagnostics import Diagnostic, Severity, Span, format_github
from engine.flow.lint import lint_text

# One workflow command: ::name key=value,key=value::message. Nothing in a property value may
# be a raw `:` `,` `%` or line break, and nothing in the message a raw `%` or line break.
COMMAND = re.compile(r"^::(?P<kind>error|warning) (?P<props>[^:\r\n]*)::(?P<message>[^\r\n]*)$")


def _props(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(","))


def test_an_error_names_the_file_line_columns_and_rule() -> None:
    d = Diagnostic.at(
        "flows/a.yaml", Span(3, 5, 3, 9), "unknown-state", 'no state "x"', hint="add it"
    )
    assert format_github([d]) == (
        "::error file=flows/a.yaml,line=3,col=5,endLine=3,endColumn=9,title=unknown-state"
        '::no state "x" (hint: add it) (see docs/lint-rules.md#unknown-state)'
    )


def test_a_warning_is_a_warning_command_and_no_hint_adds_nothing() -> None:
    d = Diagnostic.at(
        "a.yaml", Span(1, 1, 1, 2), "template-env", "ENV is not set", severity=Severity.WARNING
    )
    assert format_github([d]) == (
        "::warning file=a.yaml,line=1,col=1,endLine=1,endColumn=2,title=template-env"
        "::ENV is not set (see docs/lint-rules.md#template-env)"
    )


def test_without_an_end_the_end_properties_are_left_out() -> None:
    d = Diagnostic("a.yaml", 2, 1, "schema", Severity.ERROR, "bad")
    assert format_github([d]) == (
        "::error file=a.yaml,line=2,col=1,title=schema::bad (see docs/lint-rules.md#schema)"
    )


def test_message_and_properties_are_escaped() -> None:
    d = Diagnostic.at(
        "dir,with:odd%name.yaml",
        Span(1, 1, 1, 2),
        "schema",
        "100% wrong:\r\nsecond line, really",
        hint="a: b",
    )
    line = format_github([d])
    assert "\n" not in line and "\r" not in line
    match = COMMAND.match(line)
    assert match, line
    assert _props(match["props"])["file"] == "dir%2Cwith%3Aodd%25name.yaml"
    # In the message only %, CR and LF are escaped: `:` and `,` are fine after the `::`.
    assert match["message"] == (
        "100%25 wrong:%0D%0Asecond line, really (hint: a: b) (see docs/lint-rules.md#schema)"
    )


def test_percent_is_escaped_first_so_escapes_are_not_doubled() -> None:
    d = Diagnostic("a.yaml", 1, 1, "schema", Severity.ERROR, "%0A is not a line break")
    assert "::%250A is not a line break (see " in format_github([d])


def test_one_line_per_diagnostic_from_a_real_lint() -> None:
    text = (
        "name: A\n"
        'numbers: ["+18005551212"]\n'
        "instructions: Hi.\n"
        "start: nowhere\n"
        "states:\n"
        "  main:\n"
        "    tools: [bye]\n"
        "tools:\n"
        "  bye:\n"
        "    description: End the call.\n"
        '    hangup: "soon"\n'
    )
    result = lint_text("flows/a.yaml", text, env={})
    assert result.diagnostics
    lines = format_github(result.diagnostics).splitlines()
    assert len(lines) == len(result.diagnostics)
    for line, d in zip(lines, result.diagnostics, strict=True):
        match = COMMAND.match(line)
        assert match, line
        props = _props(match["props"])
        assert props["file"] == "flows/a.yaml"
        assert props["line"] == str(d.line) and props["col"] == str(d.col)
        assert props["title"] == d.rule
        assert match["kind"] == ("error" if d.is_error else "warning")


def test_nothing_to_report_is_empty() -> None:
    assert format_github([]) == ""

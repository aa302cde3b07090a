"""Silencing a rule where it is wrong: `# engine: ignore[rule]` and `engine lint --ignore`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.flow.lint import lint_text

from helpers import engine_cli

FLOW = """\
name: Acme
numbers: ["+18005551212"]
instructions: You are Acme's agent.
tools:
  lookup:
    description: Look up an order.
    http:
      url: "https://api.acme.example/orders"
      headers: {Authorization: "Bearer {{ env.CRM_TOKEN }}"}
  bye:
    description: End the call.
    say: "Goodbye, {{ vars.who }}."
    hangup: true
"""
# Two problems: CRM_TOKEN is not set (template-env, warning, line 9) and `vars.who` is not
# declared (template-vars, error, line 12).


def rules(text: str) -> list[tuple[int, str]]:
    return [(d.line, d.rule) for d in lint_text("a.yaml", text, env={}).diagnostics]


def test_without_a_comment_both_are_reported() -> None:
    assert rules(FLOW) == [(9, "template-env"), (12, "template-vars")]


def test_a_comment_at_the_end_of_a_line_silences_that_line() -> None:
    text = FLOW.replace('CRM_TOKEN }}"}', 'CRM_TOKEN }}"}  # engine: ignore[template-env]')
    assert rules(text) == [(12, "template-vars")]
    # ... and only the rule it names.
    text = FLOW.replace('CRM_TOKEN }}"}', 'CRM_TOKEN }}"}  # engine: ignore[template-vars]')
    assert rules(text) == [(9, "template-env"), (12, "template-vars")]


def test_a_comment_at_the_top_silences_the_whole_file() -> None:
    text = "# set only in production:\n# engine: ignore[template-env, template-vars]\n" + FLOW
    assert rules(text) == []


def test_a_comment_on_its_own_line_below_the_top_silences_the_line_below() -> None:
    text = FLOW.replace(
        "      headers:",
        "      # the token is set in production\n"
        "      # engine: ignore[template-env]\n      headers:",
    )
    assert rules(text) == [(14, "template-vars")]


def test_an_ignored_error_no_longer_keeps_the_flow_from_loading() -> None:
    text = FLOW.replace('{{ vars.who }}."', '{{ vars.who }}."  # engine: ignore[template-vars]')
    result = lint_text("a.yaml", text, env={"CRM_TOKEN": "x"})
    assert result.diagnostics == [] and result.ok


def test_an_unknown_rule_is_reported_and_silences_nothing() -> None:
    text = FLOW.replace('CRM_TOKEN }}"}', 'CRM_TOKEN }}"}  # engine: ignore[template-evn]')
    found = lint_text("a.yaml", text, env={}).diagnostics
    assert [(d.line, d.rule) for d in found] == [
        (9, "template-env"),
        (9, "lint-ignore"),
        (12, "template-vars"),
    ]
    ignore = found[1]
    assert ignore.message.startswith('"template-evn" is not a lint rule')
    assert ignore.hint == 'did you mean "template-env"?'
    start = text.splitlines()[8].index("template-evn") + 1
    assert (ignore.col, ignore.end_col) == (start, start + len("template-evn"))


def test_a_problem_that_keeps_the_file_from_being_a_flow_cannot_be_silenced() -> None:
    text = "# engine: ignore[schema]\n" + FLOW.replace("hangup: true", 'hangup: "soon"')
    found = [(d.rule, d.message) for d in lint_text("a.yaml", text, env={}).diagnostics]
    assert ("lint-ignore", found[0][1]) == found[0] and "cannot be ignored" in found[0][1]
    assert "schema" in {rule for rule, _ in found}


def test_the_words_inside_a_value_are_not_a_comment() -> None:
    text = FLOW.replace("You are Acme's agent.", '"Never say engine: ignore[template-env]."')
    assert rules(text) == [(9, "template-env"), (12, "template-vars")]


def test_ignore_on_the_command_line_silences_a_rule_in_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_TOKEN", raising=False)
    (tmp_path / "a.yaml").write_text(FLOW.replace("{{ vars.who }}", "you"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        FLOW.replace("{{ vars.who }}", "you").replace("1212", "0000"), encoding="utf-8"
    )
    code, out, _ = engine_cli("lint", "--strict", str(tmp_path))
    assert code == 1 and out.count("[template-env]") == 2
    code, out, _ = engine_cli("lint", "--strict", "--ignore", "template-env", str(tmp_path))
    assert (code, out) == (0, "no problems found in 2 files\n")
    code, out, _ = engine_cli(
        "lint",
        "--format",
        "json",
        "--ignore",
        "template-env",
        "--ignore",
        "duplicate-number",
        str(tmp_path),
    )
    assert (code, json.loads(out)) == (0, [])


def test_a_comment_silences_a_problem_found_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(FLOW, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        FLOW.replace(
            'numbers: ["+18005551212"]',
            'numbers: ["+18005551212"]  # engine: ignore[duplicate-number]',
        ),
        encoding="utf-8",
    )
    code, out, _ = engine_cli("lint", "--format", "json", "--ignore", "template-env", str(tmp_path))
    assert code == 1  # the template-vars errors
    assert {item["rule"] for item in json.loads(out)} == {"template-vars"}


@pytest.mark.parametrize("comment", ["# engine: ignore", "# engine: ignore[]"])
def test_a_comment_that_names_no_rule_is_reported(comment: str) -> None:
    text = FLOW.replace('CRM_TOKEN }}"}', f'CRM_TOKEN }}}}"}}  {comment}')
    found = lint_text("a.yaml", text, env={}).diagnostics
    assert [(d.line, d.rule) for d in found] == [
        (9, "template-env"),
        (9, "lint-ignore"),
        (12, "template-vars"),
    ]
    assert found[1].message == "this comment names no rule, so nothing is ignored"


def test_a_security_rule_cannot_be_silenced() -> None:
    steered = FLOW.replace(
        '      url: "https://api.acme.example/orders"',
        '      url: "https://{{ caller.name }}/orders"  # engine: ignore[url-host]',
    )
    found = rules(steered)
    assert (8, "url-host") in found  # still an error: the flow does not load
    assert any(rule == "lint-ignore" for _, rule in found)  # and the comment is reported

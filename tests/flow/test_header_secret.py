"""`header-secret`: a token written into a flow's HTTP header is reported, and never printed."""

from __future__ import annotations

import json

import pytest

from engine.flow.diagnostics import format_github, format_json, format_text
from engine.flow.lint import lint_text

TOKEN = "sk-live-4f9a8b7c6d5e4f3a2b1c"


def flow(headers: str) -> str:
    return (
        "name: Acme\n"
        'numbers: ["+18005551212"]\n'
        "instructions: Help.\n"
        "tools:\n"
        "  lookup:\n"
        "    description: Look up an order.\n"
        "    http:\n"
        '      url: "https://api.acme.example/orders"\n'
        f"      headers: {headers}\n"
    )


@pytest.mark.parametrize(
    "headers",
    [
        f'{{Authorization: "Bearer {TOKEN}"}}',
        '{Authorization: "Basic dXNlcjpwYXNzd29yZA=="}',
        '{X-Api-Key: "9f8e7d6c5b4a39281706"}',
        f'{{X-Custom: "{TOKEN}"}}',  # a token known by its shape, under any header
        '{Authorization: "Bearer {{ env.ACME_USER }}:hunter2hunter2"}',
    ],
)
def test_a_written_token_is_reported(headers: str) -> None:
    found = lint_text("a.yaml", flow(headers), env={"ACME_USER": "u"}).diagnostics
    assert [(d.line, d.rule, d.severity) for d in found] == [(9, "header-secret", "error")]


@pytest.mark.parametrize(
    "headers",
    [
        '{Authorization: "Bearer {{ env.ACME_TOKEN }}"}',
        '{X-Api-Key: "{{ env.ACME_KEY }}"}',
        '{Accept: "application/json", User-Agent: "acme-phone-line/1.0"}',
        '{X-Request-Id: "{{ call.id }}"}',
    ],
)
def test_a_token_read_from_the_environment_is_fine(headers: str) -> None:
    env = {"ACME_TOKEN": "x", "ACME_KEY": "y"}
    assert lint_text("a.yaml", flow(headers), env=env).diagnostics == []


def test_the_token_is_never_printed() -> None:
    text = flow(f'{{Authorization: "Bearer {TOKEN}"}}')
    found = lint_text("a.yaml", text, env={}).diagnostics
    shown = format_text(found, {"a.yaml": text})
    assert TOKEN not in shown and "Bearer" not in shown.splitlines()[2]
    assert '{Authorization: "****' in shown  # the line is shown, its secret starred out
    assert "env.LOOKUP_TOKEN" in shown  # what to write instead
    assert TOKEN not in format_github(found)
    [item] = json.loads(format_json(found))
    assert TOKEN not in json.dumps(item) and "mask" not in item
    assert item["url"] == "docs/lint-rules.md#header-secret"

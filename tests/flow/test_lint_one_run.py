"""One `engine lint` run shows every mistake: schema errors no longer stop the rules, and what
a schema error took out of the flow is never reported as a mistake of its own."""

from __future__ import annotations

from engine.flow.diagnostics import Diagnostic
from engine.flow.lint import lint_text

# Four different mistakes, as a new author makes them: a misspelt key, "yes" for true, a
# tool named in a state but not written yet, and an afternoon on a 12-hour clock.
FOUR_MISTAKES = """\
name: Example Dental reception
numbers: ["+18005551212"]
instructions: You are the receptionist of Example Dental on a phone call.
hours:
  open:
    mon-fri: "9:00-5:00"
  when_closed: {say: We are closed. Goodbye.}
states:
  front:
    instruction: Book an appointment or put the caller through.
    tools: [book_appointment, to_reception]
tools:
  book_appointment:
    description: Book an appointment for the caller.
    say: I've noted your request.
    hangup: yes
"""


def where(found: list[Diagnostic]) -> list[tuple[int, str]]:
    return [(d.line, d.rule) for d in found]


def test_a_file_with_four_mistakes_shows_all_four_in_one_run() -> None:
    result = lint_text("dental.yaml", FOUR_MISTAKES, env={})
    assert where(result.diagnostics) == [
        (6, "hours-range"),
        (10, "schema"),
        (11, "unknown-tool"),
        (16, "schema"),
    ]
    assert result.flow is None and not result.ok  # still refused: its schema errors stand
    hours = result.diagnostics[0]
    assert hours.hint is not None and '"9:00-17:00"' in hours.hint
    tool = result.diagnostics[2]
    assert '"to_reception"' in tool.message
    assert tool.hint is not None and "define it under `tools:`" in tool.hint


def test_fixed_the_file_is_clean() -> None:
    fixed = (
        FOUR_MISTAKES.replace("9:00-5:00", "9:00-17:00")
        .replace("instruction:", "instructions:")
        .replace("hangup: yes", "hangup: true")
        .replace("[book_appointment, to_reception]", "[book_appointment]")
    )
    assert lint_text("dental.yaml", fixed, env={}).diagnostics == []


def test_a_misspelt_key_is_read_as_the_key_it_means() -> None:
    # `instructon` read as `instructions`: the template inside it is still checked.
    text = FOUR_MISTAKES.replace(
        "instruction: Book an appointment", "instructon: Book {{ vars.nope }} an appointment"
    )
    rules = where(lint_text("dental.yaml", text, env={}).diagnostics)
    assert (10, "schema") in rules and (10, "template-vars") in rules


def test_what_a_wrong_value_took_out_is_not_reported() -> None:
    # `sya:` misspelt and `hangup: yes`: the tool has no action left in the salvaged flow,
    # which the `tool-steps` rule would call a tool that does nothing. Not the author's doing.
    text = FOUR_MISTAKES.replace("    say: I've noted", "    sya: I've noted")
    rules = {d.rule for d in lint_text("dental.yaml", text, env={}).diagnostics}
    assert "tool-steps" not in rules
    assert "schema" in rules and "unknown-tool" in rules


def test_a_wrong_tool_keeps_its_name_defined() -> None:
    # A tool that is not a mapping stays a tool: the state offering it is not told it is
    # undefined, and nothing says it is unused.
    text = FOUR_MISTAKES.replace(
        "  book_appointment:\n    description: Book an appointment for the caller.\n"
        "    say: I've noted your request.\n    hangup: yes\n",
        "  book_appointment: Book an appointment\n",
    )
    found = lint_text("dental.yaml", text, env={}).diagnostics
    assert [d.rule for d in found if '"book_appointment"' in d.message] == []
    assert {d.rule for d in found} == {"schema", "hours-range", "unknown-tool"}


def test_whole_flow_rules_wait_for_a_file_that_reads() -> None:
    # `got:` misspelt: the state it leads to looks unreachable, but is not once `goto` is fixed.
    text = """\
name: Acme
numbers: ["+18005551212"]
instructions: Help.
states:
  main:
    tools: [next]
  later:
    tools: [bye]
tools:
  next:
    description: Go on.
    goto: later
    hangup: "no"
  bye:
    description: End the call.
    hangup: true
"""
    found = lint_text("a.yaml", text, env={}).diagnostics
    assert [d.rule for d in found] == ["schema"]


def test_missing_required_keys_do_not_stop_the_rules() -> None:
    text = 'numbers: ["0207 123 4567"]\ninstructions: Help.\nstart: nowhere\n'
    found = where(lint_text("a.yaml", text, env={}).diagnostics)
    assert (1, "schema") in found  # `name` is missing
    assert (1, "number-format") in found
    assert (3, "unknown-state") in found

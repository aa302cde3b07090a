"""The lint rules for the IVR keys (issue #4), beyond the one example each has in tests/golden/.

Each test lints a small flow and checks which rules speak, and where: the new references
(keypad, `collect.then`, steps, `global_tools`) seen by the old rules, the edges of the new
rules, and the cross-file `flow:` hand-off check.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.flow.diagnostics import Diagnostic
from engine.flow.lint import collect_files, lint_files, lint_text

HEAD = """\
name: Test line
numbers: ["+18005551212"]
instructions: You answer the test line.
"""
PERSON = """\
  to_person:
    description: Transfer the caller to a person.
    transfer: "tel:+15551240000"
"""
GOODBYE = """\
  goodbye:
    description: End the call.
    say: Goodbye!
    hangup: true
"""


def lint(body: str, *tools: str, env: dict[str, str] | None = None) -> list[Diagnostic]:
    """Lint the test head, ``body`` (dedented) and tool blocks appended under it."""
    text = HEAD + textwrap.dedent(body) + "".join(tools)
    return lint_text("flow.yaml", text, env={} if env is None else env).diagnostics


def rules(body: str, *tools: str) -> list[str]:
    return [d.rule for d in lint(body, *tools)]


def only(body: str, rule: str, *tools: str) -> Diagnostic:
    found = lint(body, *tools)
    assert [d.rule for d in found] == [rule], [(d.rule, d.message) for d in found]
    return found[0]


# --- the old rules see the new references -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("keypad: {'1': to_persn}\ntools:\n" + PERSON, 4),
        ("states:\n  a:\n    keypad: {'1': to_persn}\ntools:\n" + PERSON, 6),
        (
            "states:\n  a:\n    collect: {save_as: pin, digits: 4, then: to_persn}\ntools:\n"
            + PERSON,
            6,
        ),
        ("silence: {steps: [{tool: to_persn}]}\ntools:\n" + PERSON, 4),
        ("limits: {fallback: {tool: to_persn}}\ntools:\n" + PERSON, 4),
        (
            "states:\n  a:\n    tools: [to_person]\n    collect:\n      save_as: pin\n"
            "      digits: 4\n      on_timeout: {tool: to_persn}\ntools:\n" + PERSON,
            10,
        ),
        ("global_tools: [to_persn]\nstates:\n  a: {tools: [to_person]}\ntools:\n" + PERSON, 4),
    ],
)
def test_unknown_tool_everywhere_a_tool_is_named(body: str, line: int) -> None:
    found = only(body, "unknown-tool")
    assert found.line == line
    assert '"to_persn"' in found.message
    assert found.hint == 'did you mean "to_person"?'


def test_a_global_tool_listed_twice_is_an_error_and_listed_again_in_a_state_a_warning() -> None:
    found = lint(
        """\
        global_tools: [goodbye, goodbye]
        states:
          a: {tools: [goodbye]}
        tools:
        """,
        GOODBYE,
    )
    assert [(d.rule, d.severity) for d in found] == [
        ("unknown-tool", "error"),
        ("unknown-tool", "warning"),
    ]
    assert "twice" in found[0].message
    assert "already offers in every state" in found[1].message


@pytest.mark.parametrize(
    "where",
    [
        "silence: {steps: [{goto: helpp}]}",
        "states:\n  main: {tools: [goodbye]}\n  help:\n    silence: {steps: [{goto: helpp}]}",
        "limits: {fallback: {goto: helpp}}",
    ],
)
def test_unknown_state_in_a_step(where: str) -> None:
    states = "" if "states:" in where else "states:\n  main: {tools: [goodbye]}\n  help: {}\n"
    body = f"{where}\n{states}tools:\n" + GOODBYE
    found = [d for d in lint(body) if d.rule == "unknown-state"]
    assert len(found) == 1
    assert found[0].hint == 'did you mean "help"?'


def test_unknown_state_in_a_step_of_a_flow_without_states() -> None:
    found = only("limits: {fallback: {say: Sorry., goto: help}}\n", "unknown-state")
    assert "has no `states`" in found.message


def test_unused_tool_counts_every_reference() -> None:
    assert rules(
        """\
        keypad: {"*": to_person}
        global_tools: [goodbye]
        limits: {fallback: {tool: ending}}
        states:
          main:
            collect: {save_as: pin, digits: 4, then: check}
            silence: {steps: [{say: Hello?}, {tool: timeout}]}
        tools:
          check: {description: Check the PIN., say: Thank you.}
          ending: {description: End., hangup: true}
          timeout: {description: End., hangup: true}
          spare: {description: Nobody runs this., hangup: true}
        """,
        PERSON,
        GOODBYE,
    ) == ["unused-tool"]


@pytest.mark.parametrize(
    "how",
    [
        "keypad: {'2': to_help}",
        "states:\n  main:\n    silence: {steps: [{say: Still there?, goto: help}]}",
        "states:\n  main:\n    collect: {save_as: pin, digits: 4, then: to_help}",
        "limits: {fallback: {goto: help}}",
        "global_tools: [to_help]",
        "states:\n  main:\n    keypad: {'#': to_person}",
    ],
)
def test_a_state_reached_by_a_key_or_a_step_is_reachable(how: str) -> None:
    via_fallback = "to_person" in how
    fallback = "    fallback: {goto: help}\n" if via_fallback else ""
    main = "" if "states:" in how else "states:\n  main: {}\n"
    head, _, rest = how.partition("states:\n")
    states = f"states:\n{rest}\n" if rest else main
    body = (
        f"{head}\n{states}  help: {{tools: [to_help, to_person]}}\n"
        "tools:\n  to_help: {description: Help., goto: help}\n" + PERSON + fallback
    )
    found = set(rules(body))
    assert not found & {"unreachable-state", "yaml-syntax", "schema"}, found


def test_a_state_reached_by_nothing_is_still_unreachable() -> None:
    body = "states:\n  main: {tools: [goodbye]}\n  lost: {}\ntools:\n" + GOODBYE
    assert rules(body) == ["unreachable-state"]


def test_transfer_rules_check_every_target_of_a_list_and_of_an_outcome() -> None:
    found = lint(
        """\
        callers:
          - numbers: ["+1900*"]
            transfer: "415 555 0100"
        tools:
          to_team:
            description: Transfer.
            parameters: {desk: {type: string}}
            transfer: ["tel:+15551240000", "sip:{{ args.desk }}@pbx.example.com", "555"]
        """
    )
    assert [(d.rule, d.line) for d in found] == [
        ("transfer-target", 6),
        ("transfer-from-args", 11),
        ("transfer-target", 11),
    ]


def test_an_outcome_transfer_from_a_sip_header_is_a_caller_choice() -> None:
    found = only(
        """\
        callers:
          - anonymous: true
            transfer: "sip:{{ call.sip_headers['X-Desk'] }}@pbx.example.com"
        """,
        "transfer-from-args",
    )
    assert "what the caller's phone sends" in found.message


# --- templates in the new keys -------------------------------------------------------------


def test_templates_in_steps_lines_outcomes_fillers_and_trunk_are_checked() -> None:
    found = lint(
        """\
        vars: {team: billing}
        silence: {steps: [{say: "Still there, {{ args.name }}?", hangup: true}]}
        lines: {time_up: "Time is up at {{ vars.tem }}."}
        hours:
          open: {mon-fri: "09:00-17:00"}
          when_closed: {say: "Closed. {{ saved.pin }}"}
        trunk: {carrier: custom, uri: "sip:{{ digits }}@{{ vars.team }}.example.com{{ "}
        tools:
          lookup:
            description: Look up.
            parameters: {order: {type: string}}
            http: {url: "https://api.example.com/{{ args.order }}"}
            filler: {say: "Looking up {{ args.order }} {{ args.ordr }}"}
        """
    )
    assert [(d.rule, d.line) for d in found] == [
        ("template-name", 5),
        ("template-vars", 6),
        ("template-name", 9),
        ("template-syntax", 10),
        ("template-args", 16),
    ]
    assert "`saved` cannot be read here" in found[2].message
    assert found[0].hint == "use caller, called, call, vars, env, now or saved here"


def test_a_fallback_step_has_no_args_and_says_why() -> None:
    found = only(
        """\
        tools:
          to_desk:
            description: Transfer.
            parameters: {desk: {type: string, enum: ["1", "2"]}}
            transfer: "sip:{{ args.desk }}@pbx.example.com"
            fallback: {say: "Desk {{ args.desk }} is busy."}
        """,
        "template-name",
    )
    assert "its `fallback` runs without them" in found.message


def test_digits_collected_are_saved_names_and_trunk_uri_knows_number() -> None:
    assert (
        lint(
            """\
            trunk: {carrier: custom, uri: "sip:{{ number }}@pbx.example.com"}
            states:
              main:
                collect: {save_as: pin, digits: 4, then: check}
                silence: {steps: [{say: "Key in your PIN {{ saved.pin }}", hangup: true}]}
            tools:
              check:
                description: Check the PIN.
                http: {url: "https://api.example.com/pins/{{ saved.pin }}"}
            """
        )
        == []
    )


def test_env_rules_cover_the_new_fields() -> None:
    found = lint('lines: {time_up: "{{ env.OPENAI_API_KEY }} {{ env.NOT_SET }}"}\n')
    assert [d.rule for d in found] == ["env-secret", "template-env"]


# --- keypad ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("a", 'keys A to D are capital letters: "A"'),
        ("star", 'write the key itself, in quotes: "*"'),
        ("pound", 'write the key itself, in quotes: "#"'),
        (" 1", 'write the key without spaces: "1"'),
        ("12", 'use one key, such as "2"'),
        ("E", "the keys are 0 to 9, *, # and A to D"),
    ],
)
def test_keypad_key_hints(key: str, hint: str) -> None:
    found = only(f'keypad: {{"{key}": to_person}}\ntools:\n' + PERSON, "keypad-key")
    assert found.hint is not None and found.hint.startswith(hint)


def test_every_dtmf_key_is_a_key() -> None:
    keys = "0123456789*#ABCD"
    body = "keypad:\n" + "".join(f'  "{k}": to_person\n' for k in keys) + "tools:\n" + PERSON
    assert lint(body) == []


def test_a_hash_key_written_without_quotes_is_found_in_a_state_too() -> None:
    found = only(
        """\
        states:
          main:
            tools: [to_person]
            keypad:
              "0": to_person
              #: to_person
        tools:
        """,
        "keypad-key",
        PERSON,
    )
    assert (found.line, found.col) == (9, 7)


def test_a_comment_that_only_starts_with_hash_is_not_a_key() -> None:
    body = 'keypad:\n  # the keys of the menu\n  "0": to_person\n  # : not a tool name!\ntools:\n'
    assert lint(body + PERSON) == []


def test_finish_key_hash_without_quotes_is_a_comment() -> None:
    found = only(
        """\
        states:
          main:
            collect:
              save_as: pin
              digits: 4
              finish_key: # the hash key
        """,
        "keypad-key",
    )
    assert found.hint == 'write the key in quotes: finish_key: "#"'
    assert (
        lint("states:\n  main:\n    collect: {save_as: pin, digits: 4, finish_key: null}\n") == []
    )


def test_keypad_tool_args_for_steps_and_collect_but_not_optional_parameters() -> None:
    body = """\
        states:
          main:
            tools: [lookup]
            collect: {save_as: pin, digits: 4, then: lookup}
        limits: {fallback: {tool: lookup}}
        keypad: {"*": maybe}
        tools:
          lookup:
            description: Look up.
            parameters: {order: {type: string}}
            say: Looking.
          maybe:
            description: Optional parameter only.
            parameters: {note: {type: string, required: false}}
            say: Fine.
        """
    found = lint(body)
    assert [(d.rule, d.line) for d in found] == [("keypad-tool-args", 7), ("keypad-tool-args", 8)]
    assert 'needs the parameter "order"' in found[0].message


@pytest.mark.parametrize(
    ("collect", "keys", "expected"),
    [
        ("{save_as: pin, digits: 4}", {"#": "to_person"}, ["keypad-conflict"]),
        ("{save_as: pin, digits: 4, finish_key: '*'}", {"#": "to_person"}, []),
        ("{save_as: pin, digits: 4, finish_key: '*'}", {"*": "to_person"}, ["keypad-conflict"]),
        ("{save_as: pin, digits: 4, finish_key: null}", {"#": "to_person"}, []),
        ("{save_as: pin, digits: 4}", {"*": "to_person", "A": "to_person"}, []),
        ("{save_as: pin, digits: 4}", {"5": "to_person"}, ["keypad-conflict"]),
    ],
)
def test_keypad_conflict_in_the_state(
    collect: str, keys: dict[str, str], expected: list[str]
) -> None:
    keypad = ", ".join(f'"{k}": {v}' for k, v in keys.items())
    body = f"states:\n  main:\n    tools: [to_person]\n    collect: {collect}\n    keypad: {{{keypad}}}\ntools:\n"
    found = lint(body + PERSON)
    assert [d.rule for d in found] == expected
    assert all(d.severity == "error" for d in found)


def test_a_flow_key_that_is_the_finish_key_is_a_warning_at_the_collecting_state() -> None:
    found = only(
        """\
        keypad: {"#": to_person}
        states:
          main:
            tools: [to_person]
            collect: {save_as: pin, digits: 4}
        tools:
        """,
        "keypad-conflict",
        PERSON,
    )
    assert found.severity == "warning"
    assert found.line == 8 and "two meanings" in found.message


# --- steps and silence ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "part"),
    [
        ("{}", "does nothing"),
        ("{hangup: false}", "does nothing"),
        ("{goto: main, hangup: true}", "also hangs up"),
        ("{say: Hi., instructions: Greet.}", "both `say` and `instructions`"),
        ("{tool: goodbye, hangup: true}", "also hangs up"),
    ],
)
def test_step_rule(step: str, part: str) -> None:
    body = f"limits: {{fallback: {step}}}\nstates:\n  main: {{tools: [goodbye]}}\ntools:\n"
    found = only(body + GOODBYE, "step")
    assert part in found.message


@pytest.mark.parametrize(
    ("last", "warned"),
    [
        ("{say: Bye., hangup: true}", False),
        ("{tool: goodbye}", False),
        ("{tool: to_person}", False),
        ("{goto: closing}", False),  # the closing state's own ladder hangs up
        ("{goto: main}", True),  # round and round
        ("{instructions: Ask again.}", True),
        ("{tool: to_closing}", False),  # a tool that moves to a state whose ladder ends
    ],
)
def test_silence_never_ends(last: str, warned: bool) -> None:
    body = f"""\
        states:
          main:
            tools: [goodbye, to_person, to_closing]
            silence: {{steps: [{{say: Still there?}}, {last}]}}
          closing:
            silence: {{steps: [{{say: Goodbye., hangup: true}}]}}
        tools:
          to_closing: {{description: Close., goto: closing}}
        """
    found = lint(textwrap.dedent(body) + PERSON + GOODBYE)
    assert [d.rule for d in found] == (["silence-never-ends"] if warned else [])
    if warned:
        assert found[0].severity == "warning"


# --- hours ------------------------------------------------------------------------------------


def hours(open_: str, closed: str = "[]") -> str:
    return f"hours:\n  open: {open_}\n  closed_dates: {closed}\n  when_closed: {{reject: 480}}\n"


@pytest.mark.parametrize(
    "open_",
    [
        '{Mon: "09:00-17:00"}',  # the engine reads days in any case
        '{"mon - fri": "09:00-17:00"}',
        '{fri-mon: "9:00-17:00"}',
        '{sat: ["10:00-12:00", "12:00-16:00"]}',  # end exclusive: no overlap
        '{mon-fri: "09:00-12:00", fri: "13:00-24:00", sat: "00:00-02:00"}',
    ],
)
def test_hours_the_engine_reads_are_clean(open_: str) -> None:
    assert lint(hours(open_)) == []


@pytest.mark.parametrize(
    ("open_", "rule", "hint"),
    [
        ('{thurs: "09:00-17:00"}', "hours-day", 'did you mean "thu"?'),
        ('{monday-friday: "09:00-17:00"}', "hours-day", 'did you mean "mon-fri"?'),
        ('{weekend: "09:00-17:00"}', "hours-day", 'did you mean "sat-sun"?'),
        ('{"mon,wed": "09:00-17:00"}', "hours-day", "give each day"),
        ('{mon: "9am-5:30pm"}', "hours-range", 'did you mean "09:00-17:30"?'),
        ('{mon: "0900-1700"}', "hours-range", 'did you mean "09:00-17:00"?'),
        (
            '{mon: "17:00-00:00"}',
            "hours-range",
            'write 24:00 for midnight at the end of the day: "17:00-24:00"',
        ),
        (
            '{mon-fri: "22:00-06:00"}',
            "hours-range",
            'split it at midnight: "22:00-24:00" here, and "00:00-06:00" on tue-sat',
        ),
        ('{mon: "24:00-24:00"}', "hours-range", 'start at 00:00: "00:00-24:00"'),
        ('{mon: "00:00-00:00"}', "hours-range", 'for the whole day write "00:00-24:00"'),
        ('{mon: "09:00-25:00"}', "hours-range", None),
        (
            '{sat-mon: "09:00-17:00", sun: "16:00-18:00"}',
            "hours-overlap",
            "list each day once: `sat, mon`",
        ),
        (
            '{fri-mon: "09:00-17:00", mon-tue: "08:00-10:00"}',
            "hours-overlap",
            "list each day once, or",
        ),
    ],
)
def test_hours_problems(open_: str, rule: str, hint: str | None) -> None:
    found = only(hours(open_), rule)
    if hint is None:
        assert found.hint is None
    else:
        assert found.hint is not None and found.hint.startswith(hint), found.hint


def test_an_overlap_names_every_shared_day_once() -> None:
    found = only(hours('{mon-fri: "09:00-17:00", mon-wed: "16:00-18:00"}'), "hours-overlap")
    assert "on Monday, Tuesday, Wednesday;" in found.message


@pytest.mark.parametrize(
    ("date", "message", "hint"),
    [
        ("2026-02-30", "February 2026 has 28 days", None),
        ("2028-02-29", None, None),
        ("02-29", None, None),
        ("2027-02-29", "2027 is not a leap year", None),
        ("04-31", "April has 30 days at most", None),
        ("2026-13-01", "there is no month 13", 'the month comes first: "2026-01-13"'),
        ("2026-12-00", "start at 01", None),
        ("Dec 25", 'write "YYYY-MM-DD"', 'did you mean "12-25"?'),
        ("25/12/2026", 'write "YYYY-MM-DD"', 'did you mean "2026-12-25"?'),
        ("2026-12-5", 'write "YYYY-MM-DD"', 'did you mean "2026-12-05"?'),
        ("03/04", 'write "YYYY-MM-DD"', None),  # March 4th or 3 April: no guess
    ],
)
def test_closed_dates(date: str, message: str | None, hint: str | None) -> None:
    body = hours('{mon: "09:00-17:00"}', f'["{date}"]')
    if message is None:
        assert lint(body) == []
        return
    found = only(body, "closed-date")
    assert message in found.message
    assert found.hint == hint


# --- outcomes and callers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "problem"),
    [
        ("{say: Closed., transfer: '+15551240000'}", None),
        ("{reject: 480}", None),
        ("{flow: neighbour}", None),
        ("{}", "does not say what happens"),
        ("{transfer: '+15551240000', flow: neighbour}", "has `transfer` and `flow`"),
        ("{say: Closed., transfer: '+15551240000', reject: 486}", "`say`, `transfer` and `reject`"),
    ],
)
def test_outcome(outcome: str, problem: str | None) -> None:
    fields = outcome.strip("{}")
    body = "callers:\n  - {numbers: ['+1900*']" + (f", {fields}" if fields else "") + "}\n"
    found = [d for d in lint(body) if d.rule == "outcome"]
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0].message


def test_caller_rule_with_numbers_or_anonymous_is_fine_and_with_neither_matches_nobody() -> None:
    assert (
        lint("callers:\n  - {anonymous: true, reject: 603}\n  - {numbers: ['+44*'], reject: 603}\n")
        == []
    )
    found = only("callers:\n  - {anonymous: false, reject: 603}\n", "caller-rule")
    assert "matches no caller" in found.message


@pytest.mark.parametrize(
    ("number", "hint"),
    [
        ("+1900*", None),
        ("+14155550100", None),
        ("*", 'write the start of the numbers the rule is for, such as "+1900*"'),
        ("1900*", 'put "+" and the country code in front: "+<country code>1900*"'),
        ("+44 (0)20*", None),
        ("+1900**", None),
        ("anonymous", "write the start of the numbers"),
    ],
)
def test_caller_numbers(number: str, hint: str | None) -> None:
    found = lint(f"callers:\n  - {{numbers: ['{number}'], reject: 603}}\n")
    if number in ("+1900*", "+14155550100"):
        assert found == []
        return
    assert [d.rule for d in found] == ["number-format"]
    if hint is not None:
        assert found[0].hint is not None and found[0].hint.startswith(hint), found[0].hint


# --- hand-offs ------------------------------------------------------------------------------


def write(folder: Path, name: str, extra: str = "", number: str = "+18005551212") -> Path:
    path = folder / name
    path.write_text(HEAD.replace("+18005551212", number) + textwrap.dedent(extra), "utf-8")
    return path


def test_handoff_to_itself_is_found_in_one_text() -> None:
    text = HEAD + "callers:\n  - {anonymous: true, flow: flow.yaml}\n"
    found = lint_text("flows/flow.yaml", text, env={}).diagnostics
    assert [d.rule for d in found] == ["handoff-flow"]


def test_one_text_alone_does_not_know_its_neighbours() -> None:
    text = HEAD + "callers:\n  - {anonymous: true, flow: elsewhere}\n"
    assert lint_text("flows/flow.yaml", text, env={}).diagnostics == []


def test_handoff_across_files(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    sub = flows / "sub"
    sub.mkdir()
    write(flows, "after-hours.yaml", number="+18005550001")
    write(sub, "nested.yaml", number="+18005550002")
    write(flows, "after-hours.test.yaml", number="+18005550003")  # a scenario, not a flow
    main = write(
        flows,
        "main.yaml",
        """\
        callers:
          - {numbers: ["+1900*"], flow: after-hours}
          - {numbers: ["+1800*"], flow: after-hours.yaml}
          - {numbers: ["+1700*"], flow: afterhours}
          - {numbers: ["+1600*"], flow: sub/nested}
          - {numbers: ["+1500*"], flow: nested}
          - {numbers: ["+1400*"], flow: after-hours.test}
        """,
    )
    # Linted alone: the neighbour on disk counts.
    report = lint_files([main], env={})
    found = [(d.rule, d.line, d.hint) for d in report.diagnostics]
    assert found == [
        ("handoff-flow", 7, 'did you mean "after-hours"?'),
        ("handoff-flow", 8, "put the flow in this folder and write its file name without `.yaml`"),
        ("handoff-flow", 9, "the flows beside it are: after-hours"),
        ("handoff-flow", 10, 'did you mean "after-hours"?'),
    ]
    # Linted with the folder: the same, reported once.
    report = lint_files(collect_files([flows])[0], env={})
    assert [d.line for d in report.diagnostics if d.rule == "handoff-flow"] == [7, 8, 9, 10]


# --- trunk, tools, limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trunk", "expected"),
    [
        ("{carrier: bandwidth}", []),
        ("{carrier: telnyx}", []),
        ("{carrier: telnyx, domain: sip.telnyx.eu}", []),
        ("{carrier: twilio, domain: acme.pstn.twilio.com}", []),
        ("{carrier: twilio}", [("trunk", "warning")]),
        ("{carrier: bandwidth, domain: x.example.com}", [("trunk", "error")]),
        ("{region: us}", [("trunk", "error")]),
        ("{carrier: wavix, region: us.wavix.net}", [("trunk", "error")]),
        ("{carrier: twilio, domain: 'sip:acme.pstn.twilio.com'}", [("trunk", "error")]),
        ("{carrier: custom}", [("trunk", "error")]),
        ("{carrier: custom, uri: '{{ digits }}@pbx.example.com'}", [("trunk", "error")]),
        ("{carrier: custom, uri: 'tel:{{ number }}'}", []),
    ],
)
def test_trunk(trunk: str, expected: list[tuple[str, str]]) -> None:
    found = lint(f"trunk: {trunk}\n")
    assert [(d.rule, d.severity) for d in found] == expected, [d.message for d in found]


def test_trunk_hints_name_the_host() -> None:
    found = only("trunk: {carrier: twilio, domain: 'sip:acme.pstn.twilio.com'}\n", "trunk")
    assert found.hint == 'did you mean "acme.pstn.twilio.com"?'
    found = only("trunk: {carrier: wavix, region: us.wavix.net}\n", "trunk")
    assert found.hint == 'did you mean "us"?'


def test_tool_fallback_and_filler() -> None:
    body = """\
        tools:
          hello: {description: Greet., say: Hello., fallback: {say: Sorry.}, filler: {say: Wait.}}
          slow:
            description: Slow.
            http: {url: "https://api.example.com/slow"}
            filler: {say: One moment.}
        """
    found = lint(body)
    assert [(d.rule, d.line) for d in found] == [("tool-fallback", 5), ("tool-filler", 5)]


def test_a_filler_after_the_default_timeout_is_heard_never() -> None:
    body = """\
        tools:
          slow:
            description: Slow.
            http: {url: "https://api.example.com/slow"}
            filler: {say: One moment., after: 5}
        """
    found = only(body, "tool-filler")
    assert "given only 5" in found.message


@pytest.mark.parametrize(
    ("limits", "rule"),
    [
        ("{call_minutes: 10, warn_minutes: 0}", None),
        ("{call_minutes: 10, warn_minutes: 9.5}", None),
        ("{call_minutes: 0.5}", "limits"),  # the default warning (1 minute) is too long
        ("{warn_minutes: 55}", "limits"),
    ],
)
def test_limits(limits: str, rule: str | None) -> None:
    assert rules(f"limits: {limits}\n") == ([rule] if rule else [])


# --- schema errors on the new keys read well --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        (
            "tools:\n  t: {description: d, transfer: []}\n",
            "`tools.t.transfer` must not be empty",
            None,
        ),
        (
            "tools:\n  t: {description: d, transfer: ['+15551240000', 5]}\n",
            "`tools.t.transfer[1]` must be text, but 5 is a number",
            'write it in quotes: "5"',
        ),
        (
            "states:\n  a:\n    collect: {save_as: pin, digits: 4, finish_key: star}\n",
            '`states.a.collect.finish_key` cannot be "star"; choose one of: "#", "*"',
            'did you mean "*"?',
        ),
        (
            "callers:\n  - {numbers: ['+1900*'], reject: 200}\n",
            "`callers[0].reject` must be at least 400, but it is 200",
            "`reject` is a SIP error status from 400 to 699",
        ),
        (
            "callers:\n  - numbers: +19005550100\n    reject: 603\n",
            "`callers[0].numbers` must be a list",
            'write a list, with phone numbers in quotes: ["+19005550100"]',
        ),
        (
            "keypad:\n  #: to_person\n",
            "`keypad` must be a mapping",
            'write the key in quotes, "#": TOOL',
        ),
        (
            "silence: {after: 3, steps: [{say: Hello?}]}\n",
            "`silence.after` must be at least 5",
            None,
        ),
    ],
)
def test_schema_messages_for_the_new_keys(body: str, message: str, hint: str | None) -> None:
    found = only(body, "schema")
    assert found.message.startswith(message), found.message
    if hint is None:
        assert found.hint is None
    else:
        assert found.hint is not None and found.hint.startswith(hint), found.hint

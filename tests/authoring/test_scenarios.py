"""`engine test`: scenario files played on the production CallMachine and HttpToolRunner."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.authoring import scenarios
from engine.authoring.scenario_diff import closest_difference
from engine.authoring.scenario_format import Scenario
from engine.authoring.scenario_play import SPEECH_CHARS_PER_SECOND, Observed, play
from engine.authoring.scenarios import add_arguments, run, run_file
from engine.call.events import SessionStarted

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "flows"
EXAMPLES = [
    "acme-support",
    "receptionist",
    "catch-all",
    "bank-line",
    "after-hours",
    "acme-priority",
]


def engine_test(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="engine test")
    add_arguments(parser)
    code = run(parser.parse_args(list(argv)))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    """A copy of the example flows and their scenarios, to break on purpose."""
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# -- the examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_flow_ships_with_passing_scenarios(name: str) -> None:
    path = FLOWS / f"{name}.test.yaml"
    result = run_file(path)
    assert result.diagnostics == []
    assert len(result.outcomes) >= 3
    failed = {o.name: o.failures for o in result.outcomes if not o.passed}
    assert failed == {}


def test_engine_test_flows_passes_with_one_line_per_scenario(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code, out, _ = engine_test(capsys)  # the default path is flows/
    lines = out.splitlines()
    assert code == 0
    assert all(line.startswith("PASS flows/") for line in lines[:-1])
    assert lines[-1] == f"{len(lines) - 1} scenarios: {len(lines) - 1} passed, 0 failed"
    assert any(line.startswith("PASS flows/acme-support.test.yaml:") for line in lines)


# -- a flow broken on purpose fails its scenarios --------------------------------------------------


def test_changed_transfer_target_fails_at_the_expectation(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        flows / "acme-support.yaml", 'billing_desk: "+15551230000"', 'billing_desk: "+15559990000"'
    )
    scenario_file = flows / "acme-support.test.yaml"
    code, out, _ = engine_test(capsys, str(flows))
    assert code == 1
    where = line_of(scenario_file, 'transfer: "sip:+15551230000@sip.acme.example"')
    assert f"FAIL {scenario_file}:" in out
    assert f"  {scenario_file}:{where}:7\n" in out
    assert '    expected transfer: "sip:+15551230000@sip.acme.example"\n' in out
    assert '    happened: transferred to "sip:+15559990000@sip.acme.example"\n' in out
    assert out.rstrip().splitlines()[-1].endswith("failed") and " 0 failed" not in out


def test_tool_removed_from_a_state_fails(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(
        flows / "acme-support.yaml",
        "tools: [lookup_order, to_billing, tech_help, goodbye]",
        "tools: [lookup_order, tech_help, goodbye]",
    )
    code, out, _ = engine_test(capsys, str(flows / "acme-support.test.yaml"))
    assert code == 1
    assert "FAIL" in out and "A billing question is transferred to billing" in out
    assert "happened: no transfer (the call is still going)" in out


def test_changed_say_line_fails(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(
        flows / "receptionist.yaml",
        "say: Let me put you through to the front desk.",
        "say: Hold on.",
    )
    code, out, _ = engine_test(capsys, str(flows / "receptionist.yaml"))  # a flow file: its tests
    assert code == 1
    assert '    expected said: "Let me put you through to the front desk."\n' in out
    assert '"Hold on."' in out


def caret_points_at(out: str, label: str) -> tuple[str, str]:
    """The characters above the caret under a failure: in the expected line and in ``label``'s."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith('expected "'))
    expected, other, caret = lines[at], lines[at + 1], lines[at + 2]
    assert other.lstrip().startswith(label), other
    column = caret.index("^")
    assert caret.strip() == "^"
    return expected[column], other[column]


def test_a_said_line_heard_differently_points_at_its_first_difference(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        flows / "receptionist.yaml",
        "say: Let me put you through to the front desk.",
        "say: Let me put you through to the desk.",
    )
    code, out, _ = engine_test(capsys, str(flows / "receptionist.test.yaml"))
    assert code == 1
    assert '    expected said: "Let me put you through to the front desk."\n' in out
    assert '    closest line heard: word 8: expected "front", heard "desk."\n' in out
    assert '      expected "Let me put you through to the front desk."\n' in out
    assert '      heard    "Let me put you through to the desk."\n' in out
    assert caret_points_at(out, "heard") == ("f", "d")


def test_a_said_line_heard_in_another_order_says_so(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        flows,
        "receptionist.test.yaml",
        """scenarios:
  - name: the lines in the wrong order
    script:
      - model: {calls: front_desk}
    expect:
      said: ["Let me put you through to the front desk.", "Example Dental, good morning! How can I help?"]
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert (
        '    it was heard, but before "Let me put you through to the front desk.": '
        "the order differs\n" in out
    )


def test_a_said_line_nothing_like_any_line_heard_shows_no_closest(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        flows,
        "receptionist.test.yaml",
        'scenarios:\n  - name: x\n    expect:\n      said: ["Zzz qqq."]\n',
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert '    expected said: "Zzz qqq."\n' in out
    assert "closest line" not in out


def test_the_first_difference_of_a_long_line_is_shown_around_it() -> None:
    wanted = "Thank you for calling, " * 4 + "we are open from nine to five."
    heard = "Thank you for calling, " * 4 + "we are open from nine to six."
    detail = closest_difference(wanted, ["Hello.", heard], "heard")
    title, expected, got, caret = detail
    last = len(wanted.split())  # "five." is the last word
    assert title == f'closest line heard: word {last}: expected "five.", heard "six."'
    assert expected.startswith("  expected …") and got.startswith("  heard    …")
    assert len(expected) < len(wanted) and len(got) < len(heard)
    column = caret.index("^")
    assert (expected[column], got[column]) == ("f", "s")


def test_a_line_cut_off_before_its_end_points_past_the_last_word() -> None:
    detail = closest_difference("Goodbye and thank you.", ["Goodbye and"], "cut short")
    title, expected, got, caret = detail
    assert title == 'closest line cut short: word 3: expected "thank", cut short nothing more'
    column = caret.index("^")
    assert expected[column] == " " and got[column] == '"'  # the closing quote: it ended


def test_a_scenario_file_naming_a_missing_flow_fails_every_scenario(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (flows / "receptionist.test.yaml").read_text(encoding="utf-8")
    path = write(flows, "receptionist.test.yaml", "flow: receptionst.yaml\n" + text)
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    count = text.count("- name:")
    fails = [line for line in out.splitlines() if line.startswith(f"FAIL {path}:")]
    assert len(fails) == count and all(
        line.endswith("(not run: fix the mistakes shown above)") for line in fails
    )
    assert out.rstrip().splitlines()[-1] == (
        f"{count} scenarios: 0 passed, {count} failed ({count} not run for mistakes); "
        "1 scenario file failed with mistakes"
    )
    code, out, _ = engine_test(capsys, "--format", "json", str(path))
    items = json.loads(out)
    assert code == 1 and items and not any(item["passed"] for item in items)
    named = [item for item in items if item["name"] is not None]
    assert len(named) == count
    assert all(i["failures"][0]["happened"] == scenarios.NOT_RUN for i in named)


def test_hangup_turned_into_goto_fails(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(flows / "catch-all.yaml", "    hangup: true", '    say: "Bye."\n    hangup: false')
    # `hangup: false` with no other step is a lint error: the scenario points at engine lint.
    code, out, _ = engine_test(capsys, str(flows / "catch-all.test.yaml"))
    assert code == 1
    assert "run `engine lint " in out and "catch-all.yaml" in out


def test_a_flow_that_does_not_lint_fails_every_scenario(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(flows / "receptionist.yaml", "voice: cedar", "voice: 42")
    code, out, _ = engine_test(capsys, str(flows / "receptionist.test.yaml"))
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    scenarios = (flows / "receptionist.test.yaml").read_text(encoding="utf-8").count("- name:")
    assert len(fails) == scenarios == 7
    assert "to be a flow that lints" in out


# -- malformed scenario files ---------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_yaml_error_is_diagnosed_at_file_line_col(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(flows, "receptionist.test.yaml", "scenarios:\n  - name: x\n   bad: [\n")
    code, out, err = engine_test(capsys, str(path))
    assert code == 1
    assert f"{path}:3:4: this line is indented by 3 spaces" in out
    assert "indent it by 4 spaces to line up with `name:` on line 2" in out
    assert "Traceback" not in out + err
    assert "^" in out
    # A file none of whose scenarios could be read fails; it is never "0 failed".
    assert f"FAIL {path}: no scenario could be read; fix the mistakes above" in out
    last = out.rstrip().splitlines()[-1]
    assert last == "FAILED: no scenario ran; 1 scenario file with mistakes (shown above)"
    assert "0 failed" not in out


def test_unknown_names_are_diagnosed_with_did_you_mean(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        flows,
        "acme-support.test.yaml",
        """env: {ACME_TOKEN: t}
scenarios:
  - name: typos
    call: {to: "+18005551213", form: "+1415"}
    services:
      lookup_ordr: {status: 200}
    script:
      - model: {calls: to_biling}
      - model: {calls: lookup_order, args: {order: A1}}
      - expect: {state: tehc}
    expect:
      transfr: x
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    expected = [
        (4, 16, 'acme-support.yaml does not answer "+18005551213"', '"+18005551212"'),
        (4, 32, 'unknown key "form" in call', '"from"'),
        (6, 7, 'acme-support.yaml has no tool "lookup_ordr"', '"lookup_order"'),
        (8, 24, 'acme-support.yaml has no tool "to_biling"', '"to_billing"'),
        (9, 45, 'the tool "lookup_order" of acme-support.yaml has no parameter "order"', None),
        (10, 25, 'acme-support.yaml has no state "tehc"', '"tech"'),
        (12, 7, 'unknown key "transfr" in expect', '"transfer"'),
    ]
    for line, col, message, guess in expected:
        assert f"{path}:{line}:{col}: {message} [scenario]" in out
        if guess:
            assert f"did you mean {guess}?" in out
    assert f"FAIL {path}:3 typos (not run: fix the mistakes shown above)" in out
    last = out.rstrip().splitlines()[-1]
    assert last == (
        "1 scenario: 0 passed, 1 failed (1 not run for mistakes); "
        "1 scenario file failed with mistakes"
    )


def test_a_bad_scenario_does_not_stop_the_good_ones(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        flows,
        "catch-all.test.yaml",
        "scenarios:\n  - name: good\n  - name: bad\n    script: [{shout: hi}]\n",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert f"PASS {path}:2 good" in out
    assert f'{path}:4:15: unknown key "shout" in a script step [scenario]' in out
    assert f"FAIL {path}:3 bad (not run: fix the mistakes shown above)" in out
    assert out.rstrip().splitlines()[-1].startswith("2 scenarios: 1 passed, 1 failed")


def test_missing_env_is_diagnosed(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(flows, "acme-support.test.yaml", "scenarios:\n  - name: no token\n")
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert "reads env.ACME_TOKEN, which this scenario does not set" in out


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = engine_test(capsys, str(tmp_path / "nope"))
    assert code == 2 and "no such file or folder" in err
    code, _, err = engine_test(capsys, str(tmp_path))
    assert code == 2 and "no scenario files" in err


# -- the call ------------------------------------------------------------------------------------


def test_unforeseen_request_fails_naming_tool_and_url(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        flows,
        "acme-support.test.yaml",
        """env: {ACME_TOKEN: very-secret-token}
scenarios:
  - name: nobody said how the orders service answers
    script:
      - model: {calls: lookup_order, args: {order_id: A1}}
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert f"  {path}:5:9\n" in out
    assert '    expected an answer for "lookup_order" under `services:`' in out
    assert "GET https://orders.acme.example/orders/A1" in out
    assert "very-secret-token" not in out


def test_secrets_never_appear_in_output(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        flows,
        "acme-support.test.yaml",
        """env: {ACME_TOKEN: very-secret-token}
scenarios:
  - name: a wrong header expectation shows the masked value
    services: {lookup_order: {json: {}}}
    script:
      - model: {calls: lookup_order, args: {order_id: A1}}
    expect:
      requests: [{tool: lookup_order, headers: {Authorization: Bearer nope}}]
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert 'happened: Authorization: "Bearer {{ env.ACME_TOKEN }}"' in out
    assert "very-secret-token" not in out


def test_rejected_404_without_catch_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(FLOWS / "receptionist.yaml", folder)
    path = write(
        folder,
        "receptionist.test.yaml",
        """scenarios:
  - name: an unknown number is rejected
    call: {to: "+15550000000"}
    expect: {rejected: 404}
  - name: a rejection expected where the call is answered
    call: {to: "+14155550123"}
    expect: {rejected: 404}
  - name: calling a number the flow lacks is a mistake in the scenario
    call: {to: "+15550000000"}
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert f"PASS {path}:2 an unknown number is rejected" in out
    assert f"FAIL {path}:5 a rejection expected where the call is answered" in out
    assert "    expected rejected: 404\n    happened: the call was answered by " in out
    assert f'{path}:9:16: receptionist.yaml does not answer "+15550000000" [scenario]' in out


def test_a_step_after_the_call_ended_fails(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        flows,
        "catch-all.test.yaml",
        "scenarios:\n  - name: x\n    script:\n      - model: {calls: end_call}\n"
        "      - caller: hello?\n",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert "happened: the call had already ended (the flow hung up)" in out


def test_json_format_shape(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(flows / "acme-support.yaml", "goto: tech", "goto: triage")
    code, out, _ = engine_test(capsys, "--format", "json", str(flows))
    assert code == 1
    items = json.loads(out)
    assert {tuple(sorted(item)) for item in items} == {
        ("failures", "file", "line", "name", "passed")
    }
    failed = [i for i in items if not i["passed"]]
    assert failed and all(i["file"].endswith("acme-support.test.yaml") for i in failed)
    failure = failed[0]["failures"][0]
    assert set(failure) == {"line", "col", "expected", "happened", "detail"}
    assert failure["expected"] == 'state: "tech"'


# -- never a traceback -----------------------------------------------------------------------------

SEEDS = [(FLOWS / f"{name}.test.yaml").read_text() for name in EXAMPLES]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "char", "swap", "value"]))
        if op == "drop":
            del lines[at]
        elif op == "dup":
            lines.insert(at, lines[at])
        elif op == "swap" and at + 1 < len(lines):
            lines[at], lines[at + 1] = lines[at + 1], lines[at]
        elif op == "char":
            line = lines[at]
            pos = draw(st.integers(0, max(len(line) - 1, 0)))
            ch = draw(st.sampled_from(list(" :-[]{}\"'#!&*x0\t")))
            lines[at] = line[:pos] + ch + line[pos + 1 :]
        else:
            value = draw(
                st.sampled_from(["1", "true", "null", "[]", "{}", "-1", "x", '"+1"', "[a, 1]"])
            )
            key, sep, _ = lines[at].partition(": ")
            if sep:
                lines[at] = f"{key}: {value}\n"
    return "".join(lines)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 700) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "scenarios",
                    "name",
                    "call",
                    "to",
                    "script",
                    "expect",
                    "model",
                    "calls",
                    "args",
                    "services",
                    "status",
                    "json",
                    "caller",
                    "press",
                    "said",
                    "requests",
                    "tool",
                    "transfer",
                    "state",
                    "env",
                    "flow",
                    "lookup_order",
                    "headers",
                    "transcript",
                    "silence",
                    "wait",
                    "drop",
                    "transfers",
                    "after",
                    "told",
                    "saved",
                    "flow",
                    "transfers_tried",
                    "check_balance",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=mutated())
def test_mutated_scenario_files_never_raise(flows: Path, text: str) -> None:
    path = flows / "bank-line.test.yaml"
    path.write_text(text)
    _reported_whole(run_file(path))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=yaml_values)
def test_random_scenario_data_never_raises(flows: Path, data: object) -> None:
    path = flows / "acme-support.test.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    _reported_whole(run_file(path))


def _reported_whole(result: scenarios.FileOutcome) -> None:
    """Whatever a scenario file holds, running it tells something about it, and both reports
    tell every scenario: a PASS or FAIL line each, one JSON item each (and one per mistake)."""
    assert result.outcomes or result.diagnostics, "a file with nothing to report"
    text = scenarios._text([result])
    marks = [line for line in text.splitlines() if line.startswith(("PASS ", "FAIL "))]
    assert len(marks) == len(result.outcomes) + (not result.outcomes)
    for outcome in result.outcomes:
        assert f"{outcome.file}:{outcome.line} " in text
    items = json.loads(scenarios._json([result]))
    assert len(items) == len(result.outcomes) + len(result.diagnostics)
    assert all(isinstance(item["passed"], bool) for item in items)


# -- IVR: keys, silences, time, transfers ------------------------------------------------------

IVR_FLOW = """\
name: Menu
numbers: ["+18005550120"]
instructions: Help.
greeting: For balances press 1.
start: menu
states:
  menu:
    keypad: {"1": balances}
  balances:
    collect: {save_as: pin, digits: 4, timeout: 6, on_timeout: {say: Too few digits.}}
    silence: {after: 10, steps: [{say: Key in your PIN.}, {say: Goodbye., hangup: true}]}
  quiet:
    instructions: No ladder here.
silence: {after: 8, steps: [{say: Still there?}]}
global_tools: [quiet, desk, lookup]
tools:
  balances: {description: Balances., goto: balances}
  quiet: {description: Quiet., goto: quiet}
  desk:
    description: A person.
    say: Putting you through.
    transfer: ["+15551240000", "+15551240001"]
  lookup:
    description: Look it up.
    http: {url: "https://bank.example/lookup", timeout: 4}
    filler: {say: One moment., after: 2}
"""


@pytest.fixture
def ivr(tmp_path: Path) -> Path:
    folder = tmp_path / "ivr"
    folder.mkdir()
    (folder / "menu.yaml").write_text(IVR_FLOW)
    return folder


def play_ivr(folder: Path, scenarios_text: str) -> scenarios.FileOutcome:
    path = folder / "menu.test.yaml"
    path.write_text(scenarios_text)
    return run_file(path)


def failures_of(result: scenarios.FileOutcome) -> dict[str, list[str]]:
    return {
        o.name: [
            f"{f.where.line}: expected {f.expected}; happened: {f.happened}" for f in o.failures
        ]
        for o in result.outcomes
        if not o.passed
    }


def test_new_keys_play_as_documented(ivr: Path) -> None:
    result = play_ivr(
        ivr,
        """scenarios:
  - name: keys, digits, saved, told
    script:
      - press: "1"
      - press: "4321"
    expect:
      state: balances
      saved: {pin: "4321"}
      told: ["The caller pressed 1 on the keypad.", "The caller keyed in pin: 4321."]
  - name: the collect timer fires only once its time has passed
    script:
      - press: "1"
      - press: "12"
      - wait: 5
      - expect: {told: ["The caller pressed 1 on the keypad."]}
      - wait: 1
    expect:
      said: ["Too few digits."]
  - name: silences climb the state's ladder and the last one hangs up
    script:
      - press: "1"
      - silence: 2
    expect:
      said: ["Key in your PIN.", "Goodbye."]
      hangup: true
  - name: "wait takes minutes too: the default time limit"
    script:
      - wait: 54 minutes
      - expect:
          said: ["Just so you know, we'll need to wrap up this call in about a minute."]
          hangup: false
      - wait: "60 s"
    expect:
      hangup: true
  - name: a slow service gets its filler line, a timeout is the tool's timeout
    services:
      lookup:
        - {json: {}, after: 3}
        - {json: {}, after: 30}
    script:
      - model: {calls: lookup}
      - model: {calls: lookup}
    expect:
      said: ["One moment.", "One moment."]
      tool_results: [{tool: lookup, ok: true}, {tool: lookup, ok: false, error: timeout}]
  - name: transfers that do not take fall through the list
    transfers: [unanswered, refused]
    script:
      - model: {calls: desk}
    expect:
      transfers_tried: ["tel:+15551240000", "tel:+15551240001"]
      transfer: false
      said:
        - Putting you through.
        - I'm sorry, that line isn't answering. Let me try another.
        - >-
          I'm sorry, I couldn't transfer your call just now. Is there anything else I can
          help you with?
  - name: a single outcome goes for every transfer
    transfers: answered
    script:
      - model: {calls: desk}
    expect:
      transfer: "tel:+15551240000"
""",
    )
    assert result.diagnostics == []
    assert failures_of(result) == {}
    assert len(result.outcomes) == 7


def test_a_silence_without_a_ladder_changes_nothing(ivr: Path) -> None:
    result = play_ivr(
        ivr,
        """scenarios:
  - name: quiet
    script:
      - model: {calls: quiet}
      - silence: 3
    expect:
      state: quiet
      hangup: false
      said: ["For balances press 1."]
""",
    )
    assert failures_of(result) == {}


def test_the_clock_moves_only_with_wait_and_silence(ivr: Path) -> None:
    text = """scenarios:
  - name: nothing happens by itself
    script:
      - press: "1"
      - press: "12"
    expect:
      said: ["Too few digits."]
"""
    result = play_ivr(ivr, text)
    [failure] = failures_of(result)["nothing happens by itself"]
    assert 'expected said: "Too few digits."' in failure


def test_the_silence_counts_from_the_end_of_what_was_said(ivr: Path) -> None:
    path = ivr / "menu.test.yaml"
    path.write_text(
        """scenarios:
  - name: the collect timeout comes first, then the silence
    script:
      - press: "1"
      - press: "12"
      - silence: true
"""
    )
    parsed = scenarios.parse_scenarios(str(path), path.read_text())
    observed = _observe(path, parsed.scenarios[0])
    # Each line takes its spoken length (12 characters a second) to be heard. The keys come
    # once the greeting is heard; the entry times out 6 s later ("Too few digits."); the
    # silence is 10 s after that line was heard, and its step is heard too.
    assert observed.said[-2:] == ["Too few digits.", "Key in your PIN."]
    heard = [len("For balances press 1."), len("Too few digits."), len("Key in your PIN.")]
    assert observed.clock == pytest.approx(sum(heard) / SPEECH_CHARS_PER_SECOND + 6 + 10)


def _observe(path: Path, scenario: Scenario) -> Observed:
    from engine.authoring.scenario_expect import check

    snapshot = scenarios._Registries().snapshot(path.parent)
    observed, _ = asyncio.run(
        play(
            scenario,
            snapshot=snapshot,
            env={},
            timezone="UTC",
            default_dialled="+18005550120",
            check=check,
        )
    )
    return observed


def test_more_transfers_than_listed_is_a_failure(ivr: Path) -> None:
    result = play_ivr(
        ivr,
        """scenarios:
  - name: one outcome listed, two transfers made
    transfers: [unanswered]
    script:
      - model: {calls: desk}
""",
    )
    [failure] = failures_of(result)["one outcome listed, two transfers made"]
    assert failure.startswith("3: expected how transfer 2 goes, under `transfers:`")
    assert '(to "tel:+15551240001")' in failure


def test_a_cancelled_response_is_not_heard(ivr: Path) -> None:
    """CancelResponse: what the caller has not heard yet of the running response never is."""
    from engine.authoring.scenario_play import _Call

    path = ivr / "menu.test.yaml"
    path.write_text("scenarios:\n  - name: x\n")
    scenario = scenarios.parse_scenarios(str(path), path.read_text()).scenarios[0]
    snapshot = scenarios._Registries().snapshot(ivr)
    from engine.authoring.scenario_expect import check
    from engine.authoring.scenario_play import _sip_headers
    from engine.call.answer import decide

    decision = decide(
        call_id="c",
        sip_headers=_sip_headers(scenario, "+18005550120"),
        snapshot=snapshot,
        env={},
        now=datetime(2026, 1, 5, 10, tzinfo=UTC),
    )

    async def go() -> tuple[Observed, list[str]]:
        observed = Observed()
        call = _Call(scenario, decision, observed, check, {})
        call.inbox.append(SessionStarted())
        for _ in range(4):  # the session starts, the greeting starts, is said, its audio starts
            await call._deliver(call.inbox.popleft())
        call._cancel()  # the caller has not heard all of it yet
        await call.settle([])
        call._cancel()  # nothing is running now: the platform says so
        await call.settle([])
        await call.client.aclose()
        return observed, [repr(e) for e in call.machine.events]

    observed, events = asyncio.run(go())
    assert observed.said == []  # the greeting was cut before its audio stopped
    assert events[3:] == [
        "AudioStarted(response_id='resp_1')",
        "ResponseFinished(response_id='resp_1', status='cancelled')",
        "AudioCleared(response_id='resp_1')",
        "PlatformError(code='response_cancel_not_active', message='There is no active "
        "response', request=None)",
    ]


def test_a_hand_off_is_expected_with_flow(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        flows,
        "acme-support.test.yaml",
        """env: {ACME_TOKEN: t}
scenarios:
  - name: handed to after-hours, and its tools are known
    call: {at: "2026-11-22 11:00"}
    services:
      take_message: {json: {}}
    expect: {flow: after-hours}
  - name: not expected
    call: {at: "2026-11-22 11:00"}
  - name: wrong flow
    call: {at: "2026-11-22 11:00"}
    expect: {flow: acme-priority}
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert f"PASS {path}:3 handed to after-hours, and its tools are known" in out
    assert "happened: it was answered by " in out and "after-hours.yaml" in out
    assert '    expected flow: "acme-priority"\n' in out


def test_new_keys_are_diagnosed_with_did_you_mean(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        flows,
        "bank-line.test.yaml",
        """env: {ACME_TOKEN: t}
scenarios:
  - name: typos
    transfer: [unanswered]
    transfers: [unanswerd, answered]
    services:
      check_balance: {json: {}, after: -1}
    script:
      - silent: true
      - press: "12x"
      - silence: 0
      - wait: soon
      - wait: 0
    expect:
      flow: after-hour
      saved: []
      transfers_tried: nope
      tol: [x]
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    expected = [
        (4, 5, 'unknown key "transfer" in a scenario', '"transfers"'),
        (5, 17, '"unanswerd" is not how a transfer goes', '"unanswered"'),
        (7, 40, "after is the seconds the service takes to answer, 0 to 60", None),
        (9, 9, 'unknown key "silent" in a script step', '"silence"'),
        (10, 16, '"12x" is not keypad keys (0-9, *, # and A-D)', None),
        (11, 18, "write `silence: true` for one silence, or how many in a row", None),
        (12, 15, "write how long to wait in seconds (`wait: 30`)", None),
        (13, 15, "write how long to wait in seconds (`wait: 30`)", None),
        (15, 13, 'there is no flow "after-hour" beside bank-line.yaml', '"after-hours"'),
        (16, 14, "saved is a mapping of names to values", None),
        (17, 24, "transfers_tried must be a list", None),
        (18, 7, 'unknown key "tol" in expect', '"told"'),
    ]
    for line, col, message, guess in expected:
        assert f"{path}:{line}:{col}: {message}" in out, message
        if guess:
            assert f"did you mean {guess}?" in out
    assert f"FAIL {path}:3 typos (not run: fix the mistakes shown above)" in out
    last = out.rstrip().splitlines()[-1]
    assert last == (
        "1 scenario: 0 passed, 1 failed (1 not run for mistakes); "
        "1 scenario file failed with mistakes"
    )


def test_an_unknown_hand_off_flow_is_diagnosed(
    flows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        flows,
        "acme-support.test.yaml",
        """env: {ACME_TOKEN: t}
scenarios:
  - name: typo in the flow
    expect: {flow: after-hour}
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    assert (
        f'{path}:4:20: there is no flow "after-hour" beside acme-support.yaml (or it does not '
        "lint) [scenario]"
    ) in out
    assert 'did you mean "after-hours"?' in out


def test_call_at_drives_the_hours_decision(flows: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        flows,
        "bank-line.test.yaml",
        """env: {ACME_TOKEN: t}
scenarios:
  - name: Saturday 13:59 Chicago is open
    call: {at: "2026-01-10 13:59"}
    expect: {state: menu, transfer: false}
  - name: Saturday 14:00 Chicago is closed
    call: {at: "2026-01-10 14:00"}
    expect: {transfer: "sip:+18005550144@carrier.example"}
  - name: the same moment written in UTC
    call: {at: "2026-01-10T20:00:00+00:00"}
    expect: {transfer: "sip:+18005550144@carrier.example"}
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 0, out


def test_docs_scenarios_md_documents_every_key() -> None:
    from engine.authoring import scenario_format as fmt

    text = (REPO / "docs" / "scenarios.md").read_text()
    keys = (
        *fmt.TOP_KEYS,
        *fmt.SCENARIO_KEYS,
        *fmt.CALL_KEYS,
        *fmt.SERVICE_REPLY_KEYS,
        *fmt.STEP_KEYS,
        *fmt.MODEL_KEYS,
        *fmt.EXPECT_KEYS,
        *fmt.REQUEST_KEYS,
        *fmt.TOOL_RESULT_KEYS,
        *fmt.TRANSFER_OUTCOMES,
        *fmt.PRESS_KEYS,
        *fmt.WAIT_KEYS,
    )
    # Written as `key`, or used in an example: `- press: "1"`, `{calls: to_billing}`.
    missing = [
        key for key in keys if f"`{key}`" not in text and not re.search(rf"[{{ ]{key}:", text)
    ]
    assert missing == []
    assert f'"{fmt.ANSWERED_AFTER} 20"' in text or f"{fmt.ANSWERED_AFTER} 20" in text


# -- transfers that ring, audio that plays on (issue #9) --------------------------------------------

# The menu flow with its transfer wait written out, so these timings do not follow the default.
RINGING_FLOW = IVR_FLOW + "trunk: {transfer_wait: 10}\n"
GREETING = "For balances press 1."


@pytest.fixture
def ringing(tmp_path: Path) -> Path:
    folder = tmp_path / "ringing"
    folder.mkdir()
    (folder / "menu.yaml").write_text(RINGING_FLOW)
    return folder


def observe_one(folder: Path, scenario_text: str) -> tuple[Observed, list[str]]:
    """Play the only scenario of ``scenario_text``; what happened, and its failures."""
    from engine.authoring.scenario_expect import check

    path = folder / "menu.test.yaml"
    path.write_text(scenario_text)
    parsed = scenarios.parse_scenarios(str(path), scenario_text)
    assert parsed.diagnostics == []
    snapshot = scenarios._Registries().snapshot(folder)
    observed, failures = asyncio.run(
        play(
            parsed.scenarios[0],
            snapshot=snapshot,
            env={},
            timezone="UTC",
            default_dialled="+18005550120",
            check=check,
        )
    )
    return observed, [
        f"{f.where.line}: expected {f.expected}; happened: {f.happened}" for f in failures
    ]


def test_a_ringing_transfer_is_answered_after_its_ring_time(ringing: Path) -> None:
    observed, failures = observe_one(
        ringing,
        """scenarios:
  - name: the desk rings 8 seconds, then a person answers
    transfers: answered after 8
    script:
      - model: {calls: desk}
    expect:
      said: ["Putting you through."]
      transfers_tried: ["tel:+15551240000"]
      transfer: "tel:+15551240000"
""",
    )
    assert failures == []
    assert observed.ended == 'transferred to "tel:+15551240000"'
    # The REFER goes once "Putting you through." is heard; the call leaves 8 s later.
    heard = len(GREETING) + len("Putting you through.")
    assert observed.clock == pytest.approx(heard / SPEECH_CHARS_PER_SECOND + 8)


def test_a_transfer_that_rings_longer_than_the_wait_is_given_up_then_answers(
    ringing: Path,
) -> None:
    """The engine gives up after `transfer_wait` and tries the next target; the first person
    answering afterwards still takes the call, as on a real trunk."""
    result = play_ivr(
        ringing,
        """scenarios:
  - name: both ring 25 seconds; the first answers while the second rings
    transfers: answered after 25
    script:
      - model: {calls: desk}
    expect:
      said: ["Putting you through.", "I'm sorry, that line isn't answering. Let me try another."]
      transfers_tried: ["tel:+15551240000", "tel:+15551240001"]
      transfer: "tel:+15551240000"
  - name: once the engine stopped waiting, only time passing lets the person answer
    transfers: ["answered after 25", refused]
    script:
      - model: {calls: desk}
      - expect:
          transfer: false
          said:
            - >-
              I'm sorry, I couldn't transfer your call just now. Is there anything else I can
              help you with?
      - wait: 15
    expect:
      transfer: "tel:+15551240000"
  - name: the time limit waits for a transfer that rings
    transfers: answered after 8
    script:
      # The limit (55 minutes) comes while the desk rings, within the transfer's wait.
      - wait: 3295
      - model: {calls: desk}
    expect:
      said: ["Putting you through."]
      transfer: "tel:+15551240000"
      hangup: false
""",
    )
    assert result.diagnostics == []
    assert failures_of(result) == {}


def test_a_ringing_transfer_fails_the_scenario_when_the_wait_is_too_short(ringing: Path) -> None:
    """The same scenario passes with a wait longer than the ring, and fails with a shorter
    one: the author sees the engine give up on a person about to answer."""
    text = """scenarios:
  - name: the desk answers after 30 seconds
    transfers: [answered after 30, refused]
    script:
      - model: {calls: desk}
    expect:
      transfer: "tel:+15551240000"
"""
    (ringing / "menu.yaml").write_text(IVR_FLOW + "trunk: {transfer_wait: 40}\n")
    assert failures_of(play_ivr(ringing, text)) == {}
    (ringing / "menu.yaml").write_text(IVR_FLOW + "trunk: {transfer_wait: 10}\n")
    [failure] = failures_of(play_ivr(ringing, text))["the desk answers after 30 seconds"]
    assert (
        failure
        == '7: expected transfer: "tel:+15551240000"; happened: no transfer (the call is still going)'
    )


def test_a_key_pressed_while_the_greeting_plays_cuts_it(ringing: Path) -> None:
    observed, failures = observe_one(
        ringing,
        """scenarios:
  - name: 1 during the greeting
    script:
      - wait: {seconds: 1, while_agent_speaks: true}
      - expect: {said: [], cut_short: []}
      - press: {keys: "1", while_agent_speaks: true}
      - model: {says: Key in your PIN.}
    expect:
      state: balances
      cut_short: ["For balances press 1."]
      said: ["Key in your PIN."]
      told: ["The caller pressed 1 on the keypad."]
""",
    )
    assert failures == []
    assert observed.said == ["Key in your PIN."]  # not a greeting heard to the end
    assert observed.cut_short == [GREETING]
    assert ("agent", GREETING) in observed.transcript  # it was said, only not heard out


def test_a_key_that_means_nothing_does_not_cut_the_greeting(ringing: Path) -> None:
    """A scenario that expects the cut fails when the key no longer stops the agent."""
    observed, failures = observe_one(
        ringing,
        """scenarios:
  - name: 9 means nothing here
    script:
      - press: {keys: "9", while_agent_speaks: true}
    expect:
      cut_short: ["For balances press 1."]
""",
    )
    assert observed.said == [GREETING]
    assert failures == [
        '6: expected cut_short: "For balances press 1."; happened: the lines cut short: nothing'
    ]


def test_the_first_digit_of_an_entry_and_the_time_limit_cut_audio(ringing: Path) -> None:
    result = play_ivr(
        ringing,
        """scenarios:
  - name: the first digit of the PIN stops the agent's line
    script:
      - press: "1"
      - model: {says: Please key in your four digit PIN now.}
      - press: {keys: "4321", while_agent_speaks: true}
    expect:
      saved: {pin: "4321"}
      cut_short: ["Please key in your four digit PIN now."]
  - name: the time limit stops a line still playing, then says its own
    script:
      - wait: 3297
      - model: {says: Let me tell you all about our many account types and their fees.}
      - wait: {seconds: 2, while_agent_speaks: true}
    expect:
      cut_short: ["Let me tell you all about our many account types and their fees."]
      said: ["I'm sorry, we've reached the time limit for this call. Thank you for calling. Goodbye."]
      hangup: true
""",
    )
    assert result.diagnostics == []
    assert failures_of(result) == {}


def test_while_agent_speaks_when_the_agent_is_silent_fails(ringing: Path) -> None:
    observed, failures = observe_one(
        ringing,
        """scenarios:
  - name: pressed after everything was heard
    script:
      - press: "1"
      - press: {keys: "1", while_agent_speaks: true}
""",
    )
    assert failures == [
        "5: expected the agent to be speaking when this `press` step came "
        "(`while_agent_speaks: true`); happened: the agent was not speaking: every line had "
        "been heard to the end"
    ]
    assert observed.said == [GREETING]


def test_lines_take_their_spoken_length_to_be_heard(ringing: Path) -> None:
    observed, failures = observe_one(
        ringing,
        """scenarios:
  - name: a wait while the agent speaks ends mid-line
    script:
      - wait: {seconds: 1, while_agent_speaks: true}
      - expect: {said: []}
      - wait: 1
    expect:
      said: ["For balances press 1."]
""",
    )
    assert failures == []
    # 1 s into the greeting, then the rest of it is heard, then 1 s more.
    assert observed.clock == pytest.approx(len(GREETING) / SPEECH_CHARS_PER_SECOND + 1)


def test_malformed_ringing_and_while_speaking_are_diagnosed(
    ringing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        ringing,
        "menu.test.yaml",
        """scenarios:
  - name: a ring time that is not one
    transfers: answered after soon
  - name: too long, in a list
    transfers: [answered, "answered after 10 minutes"]
  - name: steps
    script:
      - press: {keys: "1", while_agent_speak: true}
      - press: {while_agent_speaks: true}
      - wait: {seconds: 2, while_agent_speaks: yes}
      - press: {keys: "1x", while_agent_speaks: true}
      - wait: {seconds: never, while_agent_speaks: true}
""",
    )
    code, out, _ = engine_test(capsys, str(path))
    assert code == 1
    expected = [
        (
            3,
            16,
            '"answered after soon" does not say how long the transfer rings before it is answered',
            None,
        ),
        (5, 27, '"answered after 10 minutes" rings too long', None),
        (8, 28, 'unknown key "while_agent_speak" in press', '"while_agent_speaks"'),
        (9, 16, "`press:` written as a mapping needs `keys:`", None),
        (10, 48, "while_agent_speaks must be true or false, not text", None),
        (11, 23, '"1x" is not keypad keys (0-9, *, # and A-D)', None),
        (12, 25, "write how long to wait in seconds (`wait: 30`)", None),
    ]
    for line, col, message, guess in expected:
        assert f"{path}:{line}:{col}: {message}" in out, (message, out)
        if guess:
            assert f"did you mean {guess}?" in out
    assert 'write the seconds it rings, more than 0 and at most 300: "answered after 20"' in out

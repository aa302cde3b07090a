"""`engine test`: scenario files played on the production CallMachine and HttpToolRunner."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.authoring import scenarios
from engine.authoring.scenarios import add_arguments, run, run_file

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "flows"
EXAMPLES = ["acme-support", "receptionist", "catch-all"]


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
    assert len(fails) == 6
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
    assert f"{path}:3:4: YAML syntax error" in out
    assert "Traceback" not in out + err
    assert "^" in out


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
    assert "0 scenarios: 0 passed, 0 failed; 1 file with problems" in out


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
    assert set(failure) == {"line", "col", "expected", "happened"}
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
    path = flows / "acme-support.test.yaml"
    path.write_text(text)
    result = run_file(path)
    scenarios._text([result])
    scenarios._json([result])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=yaml_values)
def test_random_scenario_data_never_raises(flows: Path, data: object) -> None:
    path = flows / "acme-support.test.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    result = run_file(path)
    scenarios._text([result])

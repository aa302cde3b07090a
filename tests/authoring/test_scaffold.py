"""`engine new`: a flow (and its scenarios) that lint clean, and docs/authoring.md followed."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from engine.authoring import scaffold
from engine.cli import main as cli_main
from engine.flow.lint import collect_files, lint_files

from helpers import engine_cli

ROOT = Path(__file__).resolve().parents[2]


def _call(module, argv: list[str]) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = module.run(parser.parse_args(argv))
    return code, out.getvalue(), err.getvalue()


def new(*argv: str) -> tuple[int, str, str]:
    return _call(scaffold, list(argv))


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_new_writes_a_flow_that_lints_with_no_diagnostics(tmp_path: Path) -> None:
    code, out, err = new("support", "--number", "+18005551212")
    assert (code, err) == (0, "")
    flow_file = tmp_path / "flows" / "support.yaml"
    assert f"created {Path('flows') / 'support.yaml'}" in out
    text = flow_file.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../schemas/flow.schema.json"
    report = lint_files([flow_file], env={})
    assert report.diagnostics == []
    flow = report.files[0].flow
    assert flow is not None and flow.numbers == ["+18005551212"]
    assert "env." not in text
    kinds = {
        "goto": any(t.goto for t in flow.tools.values()),
        "transfer with say": any(t.transfer and t.say for t in flow.tools.values()),
        "hangup": any(t.hangup for t in flow.tools.values()),
    }
    assert all(kinds.values()), kinds
    assert len(flow.states) >= 2
    assert text.count("\n#") >= 10  # it teaches


def test_several_numbers_and_an_odd_name(tmp_path: Path) -> None:
    code, _, _ = new("front_desk-2", "--number", "+18005551212", "--number", "+442071234567")
    assert code == 0
    report = lint_files([tmp_path / "flows" / "front_desk-2.yaml"], env={})
    assert report.diagnostics == []
    assert report.files[0].flow.numbers == ["+18005551212", "+442071234567"]  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["has space", "dot.ted", "", "é", "x" * 65])
def test_a_bad_name_is_a_usage_error(name: str, tmp_path: Path) -> None:
    code, _, err = new(name, "--number", "+18005551212")
    assert code == 2 and "letters, digits" in err
    assert not (tmp_path / "flows").exists()


def test_a_bad_number_is_a_usage_error_with_a_guess() -> None:
    code, _, err = new("support", "--number", "+1 (800) 555-1212")
    assert code == 2 and "E.164" in err and '"+18005551212"' in err
    code, _, err = new("support", "--number", "8005551212x")
    assert code == 2 and "E.164" in err


@pytest.mark.parametrize("written", ["5550001111", "020 7123 4567", "0015550001111"])
def test_a_bad_number_gets_the_fix_lint_gives_and_the_same_exit_rule(
    written: str, tmp_path: Path
) -> None:
    code, _, err = new("support", "--number", written)
    assert code == 2  # a wrong argument: the command was used wrongly
    # The same number written into a flow: lint's exit code is 1 (a problem found in a file)
    # and its fix is word for word the one `engine new` gave.
    flow = tmp_path / "flow.yaml"
    flow.write_text(f'name: A\nnumbers: ["{written}"]\ninstructions: Help.\n', encoding="utf-8")
    report = lint_files([flow], env={})
    [problem] = report.diagnostics
    assert problem.rule == "number-format" and problem.hint
    assert err.rstrip().endswith(problem.hint)
    assert "+5550001111" not in err  # never "+" put before a national number
    assert cli_main(["lint", str(flow)]) == 1


def test_no_number_is_a_usage_error() -> None:
    code, _, err = new("support")
    assert code == 2 and "--number" in err


def test_it_does_not_overwrite_without_force(tmp_path: Path) -> None:
    assert new("support", "--number", "+18005551212")[0] == 0
    flow_file = tmp_path / "flows" / "support.yaml"
    flow_file.write_text(flow_file.read_text() + "# mine\n")
    code, _, err = new("support", "--number", "+18005551212")
    assert code == 1 and "--force" in err
    assert flow_file.read_text().endswith("# mine\n")
    # --force replaces it; its own old claim on the number does not count.
    code, _, _ = new("support", "--number", "+18005551212", "--force")
    assert code == 0 and not flow_file.read_text().endswith("# mine\n")


def test_a_number_another_flow_answers_is_refused(tmp_path: Path) -> None:
    assert new("support", "--number", "+18005551212")[0] == 0
    code, _, err = new("sales", "--number", "+18005551213", "--number", "+18005551212")
    assert code == 1
    assert "+18005551212" in err and "support.yaml" in err
    assert not (tmp_path / "flows" / "sales.yaml").exists()


def test_the_modeline_finds_the_schema_from_another_folder(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "flow.schema.json").write_text("{}")
    code, out, _ = new("support", "--number", "+18005551212", "--dir", "lines/us")
    assert code == 0 and "note:" not in out
    first = (tmp_path / "lines" / "us" / "support.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/flow.schema.json"


def test_without_a_schema_it_says_how_to_make_one() -> None:
    code, out, _ = new("support", "--number", "+18005551212")
    assert code == 0 and "engine schema > schemas/flow.schema.json" in out


@pytest.mark.parametrize("number", ["+18005551212", "+442071234567"])
def test_the_scaffolded_scenarios_pass(tmp_path: Path, number: str) -> None:
    from engine.authoring import scenarios

    assert new("support", "--number", number)[0] == 0
    assert (tmp_path / "flows" / "support.test.yaml").is_file()
    # The front desk is in the flow's own country: no `trunk.allow` needed to reach it.
    assert lint_files([tmp_path / "flows" / "support.yaml"], env={}).diagnostics == []
    code, out, _ = _call(scenarios, ["flows"])
    assert code == 0, out
    assert "2 passed" in out


# --- docs/authoring.md, command by command ----------------------------------------------


def _doc_commands() -> list[str]:
    text = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line and not line.startswith("pip "):
                commands.extend(part.strip() for part in line.split("&&"))
    return commands


def test_docs_authoring_md_from_an_empty_folder(tmp_path: Path) -> None:
    commands = _doc_commands()
    ran = []
    for command in commands:
        target = None
        if " > " in command:
            command, target = (part.strip() for part in command.split(" > ", 1))
        argv = shlex.split(command)
        if argv[0] == "mkdir":
            for folder in argv[1:]:
                if not folder.startswith("-"):
                    (tmp_path / folder).mkdir(parents=True, exist_ok=True)
            continue
        assert argv[0] == "engine", command
        code, out, _ = engine_cli(*argv[1:])
        assert code == 0, f"{command}: exit {code}\n{out}"
        if target:
            (tmp_path / target).write_text(out, encoding="utf-8")
        ran.append(argv[1])
    assert ran[:3] == ["schema", "new", "lint"]
    assert {"graph", "test"} <= set(ran)
    assert (tmp_path / "schemas" / "flow.schema.json").stat().st_size > 1000
    files, _ = collect_files([tmp_path / "flows"])
    assert [f.name for f in files] == ["support.yaml"]
    assert lint_files(files, env={}).diagnostics == []
